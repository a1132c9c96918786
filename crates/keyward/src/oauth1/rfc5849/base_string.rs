//! The signature base string, RFC 5849 §3.4.1.

use super::error::ParseError;
use crate::common::encoding::{encode, encode_into};
use std::borrow::Cow;

/// Builds the base string URI of RFC 5849 §3.4.1.2 from an absolute request URI (a URI
/// without scheme or host is [`ParseError::RelativeUri`]).
///
/// Scheme and host are lowercased, the default port (80 for `http`, 443 for `https`) is
/// dropped, an empty path becomes `/`, and the query and fragment are removed. The path is
/// kept as sent (its percent-escapes are part of what the client signed).
pub fn base_string_uri(uri: &http::Uri) -> Result<String, ParseError> {
    let mut out = String::new();
    base_string_uri_into(&mut out, uri)?;
    Ok(out)
}

/// [`base_string_uri`] appended to `out` (on error, `out` may hold part of it).
pub(crate) fn base_string_uri_into(out: &mut String, uri: &http::Uri) -> Result<(), ParseError> {
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(ParseError::RelativeUri);
    };
    if authority.as_str().contains('@') {
        return Err(ParseError::Uri("user information in the authority"));
    }
    let host = authority.host();
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else {
        None
    };
    // Scheme and host are lowercased in place.
    out.reserve(scheme.len() + host.len() + uri.path().len() + 10);
    let start = out.len();
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    out[start..].make_ascii_lowercase();
    if let Some(port) = authority.port_u16().filter(|p| Some(*p) != default_port) {
        use std::fmt::Write as _;
        let _ = write!(out, ":{port}");
    }
    let path = uri.path();
    out.push_str(if path.is_empty() { "/" } else { path });
    Ok(())
}

/// Percent-encodes each name and value (§3.6) and sorts the pairs by encoded name, then by
/// encoded value (§3.4.1.3.2). Most names and values are unreserved already, and are then
/// borrowed rather than copied.
fn sorted_encoded<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut encoded: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        params.iter().map(|(k, v)| (encode(k.as_ref()), encode(v.as_ref()))).collect();
    encoded.sort_unstable();
    encoded
}

/// Normalises request parameters per RFC 5849 §3.4.1.3.2.
///
/// Each name and value is percent-encoded (§3.6), the pairs are sorted by encoded name and
/// then by encoded value, and joined as `name=value` with `&`. The caller passes every
/// parameter that takes part (§3.4.1.3.1): query, form body, and the protocol parameters
/// except `realm` and `oauth_signature`.
pub fn normalize_parameters<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let encoded = sorted_encoded(params);
    let mut out = String::with_capacity(encoded.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (k, v) in &encoded {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Concatenates the signature base string of RFC 5849 §3.4.1.1:
/// `METHOD&encode(base-string-uri)&encode(normalised-parameters)`.
pub fn signature_base_string(method: &http::Method, base_uri: &str, normalized_params: &str) -> String {
    let mut out =
        String::with_capacity(method.as_str().len() + base_uri.len() * 2 + normalized_params.len() * 2);
    push_method_and_uri(&mut out, method, base_uri);
    out.push_str(&encode(normalized_params));
    out
}

/// The signature base string of RFC 5849 §3.4.1.1 straight from the request parameters
/// (§3.4.1.3.1), without building the normalised parameter string first: equal to
/// `signature_base_string(method, base_uri, &normalize_parameters(params))`, in one pass.
pub fn signature_base_string_from_params<K: AsRef<str>, V: AsRef<str>>(
    method: &http::Method,
    base_uri: &str,
    params: &[(K, V)],
) -> String {
    let pairs = params.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
    signature_base_string_from_pairs(method, base_uri, pairs, params.len())
}

/// [`signature_base_string_from_params`] over an iterator of `count` (a capacity hint)
/// unencoded pairs, so that the caller need not collect them first.
pub(crate) fn signature_base_string_from_pairs<'a>(
    method: &http::Method,
    base_uri: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    count: usize,
) -> String {
    let mut encoded: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(count);
    encoded.extend(pairs.map(|(k, v)| (encode(k), encode(v))));
    encoded.sort_unstable();
    let params_len: usize = encoded.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    let mut out = String::with_capacity(method.as_str().len() + base_uri.len() * 2 + params_len * 5 / 4 + 8);
    push_method_and_uri(&mut out, method, base_uri);
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push_str("%26");
        }
        push_encoded_again(&mut out, k);
        out.push_str("%3D");
        push_encoded_again(&mut out, v);
    }
    out
}

/// Appends `METHOD&encode(base-string-uri)&` (§3.4.1.1).
pub(crate) fn push_method_and_uri(out: &mut String, method: &http::Method, base_uri: &str) {
    let start = out.len();
    out.push_str(method.as_str());
    out[start..].make_ascii_uppercase();
    out.push('&');
    encode_into(out, base_uri);
    out.push('&');
}

/// Encodes an already-encoded name or value a second time (§3.4.1.1 encodes the normalised
/// parameters as a whole): it holds only unreserved characters and `%XX` escapes, so only
/// `%` changes, to `%25`.
fn push_encoded_again(out: &mut String, encoded: &str) {
    let mut run = 0;
    for (i, b) in encoded.bytes().enumerate() {
        if b == b'%' {
            // `%` is ASCII: `run..i` lies on character boundaries.
            out.push_str(&encoded[run..i]);
            out.push_str("%25");
            run = i + 1;
        }
    }
    out.push_str(&encoded[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_uri_rules_of_3_4_1_2() {
        let cases = [
            ("HTTP://EXAMPLE.COM:80/r%20v/X?id=123", "http://example.com/r%20v/X"),
            ("https://www.example.net:8080/?q=1", "https://www.example.net:8080/"),
            ("https://Example.com:443", "https://example.com/"),
            ("http://example.com:443/a", "http://example.com:443/a"),
        ];
        for (input, want) in cases {
            let uri: http::Uri = input.parse().unwrap();
            assert_eq!(base_string_uri(&uri).unwrap(), want, "{input}");
        }
        let relative: http::Uri = "/path".parse().unwrap();
        assert!(base_string_uri(&relative).is_err());
    }

    #[test]
    fn one_pass_base_string_equals_the_two_step_one() {
        let p = [
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("c2", ""),
            ("a3", "2 q"),
            ("é~", "☃&+"),
        ];
        let uri = "http://example.com/request";
        let two_step = signature_base_string(&http::Method::POST, uri, &normalize_parameters(&p));
        assert_eq!(signature_base_string_from_params(&http::Method::POST, uri, &p), two_step);
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            signature_base_string_from_params(&http::Method::GET, uri, &none),
            "GET&http%3A%2F%2Fexample.com%2Frequest&"
        );
    }

    #[test]
    fn sorts_by_encoded_name_then_value() {
        let p = [("b", "2"), ("a", "z"), ("a", "y"), ("a b", "1"), ("A", "~")];
        assert_eq!(normalize_parameters(&p), "A=~&a=y&a=z&a%20b=1&b=2");
    }
}
