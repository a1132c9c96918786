//! RFC 3986 percent-encoding and `application/x-www-form-urlencoded` parsing.
//!
//! OAuth 1.0a (RFC 5849 §3.6) encodes every character outside the unreserved set
//! `ALPHA / DIGIT / "-" / "." / "_" / "~"` as `%XX` with uppercase hex. Decoding is strict:
//! a malformed escape or bytes that are not UTF-8 are an error, never replaced silently,
//! because signatures are computed over the decoded values.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use std::borrow::Cow;

/// Everything but RFC 3986 unreserved characters.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-escape")]
    BadEscape,
    /// The decoded bytes are not UTF-8.
    #[error("decoded value is not UTF-8")]
    NotUtf8,
}

/// Percent-encodes per RFC 3986 §2.1 / RFC 5849 §3.6 (uppercase hex, unreserved kept).
pub fn encode(s: &str) -> Cow<'_, str> {
    // Most OAuth names and values (keys, nonces, timestamps) are unreserved already.
    if s.bytes().all(is_unreserved) {
        return Cow::Borrowed(s);
    }
    utf8_percent_encode(s, RFC3986).into()
}

/// RFC 3986 §2.3 unreserved: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// [`encode`] appended to `out`, without an intermediate string.
pub fn encode_into(out: &mut String, s: &str) {
    if s.bytes().all(is_unreserved) {
        out.push_str(s);
    } else {
        out.extend(utf8_percent_encode(s, RFC3986));
    }
}

/// Strictly percent-decodes `s` (a `+` stays a `+`).
pub fn decode(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    if !s.as_bytes().contains(&b'%') {
        // Nothing to decode, and `s` is UTF-8 already.
        return Ok(Cow::Borrowed(s));
    }
    check_escapes(s.as_bytes())?;
    match percent_decode(s.as_bytes()).decode_utf8() {
        Ok(v) => Ok(v),
        Err(_) => Err(DecodeError::NotUtf8),
    }
}

/// Decodes one form component: `+` is a space, then strict percent-decoding.
pub fn decode_form_component(s: &str) -> Result<String, DecodeError> {
    if s.contains('+') {
        decode(&s.replace('+', " ")).map(Cow::into_owned)
    } else {
        decode(s).map(Cow::into_owned)
    }
}

fn check_escapes(b: &[u8]) -> Result<(), DecodeError> {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(DecodeError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Parses `application/x-www-form-urlencoded` data (or a URL query) into ordered pairs.
///
/// Empty segments (`a=1&&b=2`) are skipped; a segment without `=` is a name with an empty
/// value. Duplicated names are kept, in order: the caller decides what a duplicate means.
pub fn parse_form(s: &str) -> Result<Vec<(String, String)>, DecodeError> {
    s.split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            Ok((decode_form_component(k)?, decode_form_component(v)?))
        })
        .collect()
}

/// Serialises pairs as `application/x-www-form-urlencoded` with RFC 3986 encoding
/// (a space becomes `%20`, which every form parser accepts).
pub fn encode_form<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(k.as_ref()));
        out.push('=');
        out.push_str(&encode(v.as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_per_rfc5849_3_6() {
        assert_eq!(encode("abcABC123-._~"), "abcABC123-._~");
        assert_eq!(encode("a b+c/d=e&f"), "a%20b%2Bc%2Fd%3De%26f");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("\u{2620}"), "%E2%98%A0");
        let mut out = String::from("x=");
        encode_into(&mut out, "a b/é");
        assert_eq!(out, "x=a%20b%2F%C3%A9");
    }

    #[test]
    fn decode_is_strict() {
        assert_eq!(decode("%41%2b+").unwrap(), "A++");
        assert_eq!(decode("%4"), Err(DecodeError::BadEscape));
        assert_eq!(decode("%zz"), Err(DecodeError::BadEscape));
        assert_eq!(decode("%FF"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn parses_forms() {
        let p = parse_form("a=1&&b=x+y&c&a=%3D").unwrap();
        let want = [("a", "1"), ("b", "x y"), ("c", ""), ("a", "=")];
        assert_eq!(p.len(), want.len());
        for ((k, v), (wk, wv)) in p.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
        assert_eq!(encode_form([("a b", "c&d")]), "a%20b=c%26d");
    }
}
