//! Reading an incoming request's protocol parameters, RFC 5849 §3.5, and the request's
//! signature base string (§3.4.1) as the server rebuilds it.

use super::base_string::{base_string_uri, normalize_parameters, signature_base_string_from_pairs};
use super::error::ParseError;
use super::names;
use crate::common::encoding::{DecodeError, decode, parse_form};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Where the protocol parameters travel (RFC 5849 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureType {
    /// The `Authorization: OAuth …` header (§3.5.1), the recommended place.
    #[default]
    Header,
    /// The request URI's query (§3.5.3).
    Query,
    /// An `application/x-www-form-urlencoded` entity-body (§3.5.2).
    Body,
}

impl fmt::Display for SignatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "Authorization header",
            Self::Query => "query",
            Self::Body => "form body",
        })
    }
}

impl std::str::FromStr for SignatureType {
    type Err = ParseError;

    /// Reads Authlib's names: `HEADER`, `QUERY`, `BODY` (any case).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.to_ascii_uppercase().as_str() {
            "HEADER" | "AUTH_HEADER" => Ok(Self::Header),
            "QUERY" | "URI" => Ok(Self::Query),
            "BODY" => Ok(Self::Body),
            _ => Err(ParseError::Invalid("signature type")),
        }
    }
}

/// True when `headers` declare an `application/x-www-form-urlencoded` body (§3.4.1.3.1).
pub fn is_form(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// Maps a decoding failure in `place` (header, query, body) to its [`ParseError`] (§3.6).
pub(super) fn decode_err(place: &'static str) -> impl Fn(DecodeError) -> ParseError {
    move |e| match e {
        DecodeError::NotUtf8 => ParseError::NotUtf8(place),
        _ => ParseError::BadEncoding(place),
    }
}

const HEADER: &str = "Authorization header";

/// The most digits `oauth_timestamp` may have: 18 digits always fit an `i64`, and no clock
/// is that far from 1970.
const MAX_TIMESTAMP_DIGITS: usize = 18;

/// Reads `oauth_timestamp` (RFC 5849 §3.3: "a positive integer" of seconds since the
/// epoch): 1 to [`MAX_TIMESTAMP_DIGITS`] ASCII digits, not zero, with no sign, space or
/// exponent. The one rule: [`SignedRequest`] refuses any other value at parse time, and
/// [`SignedRequest::timestamp_secs`] reads it with this function.
fn parse_timestamp(raw: &str) -> Option<i64> {
    if raw.is_empty() || raw.len() > MAX_TIMESTAMP_DIGITS || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|ts: &i64| *ts > 0)
}

/// The protocol parameter names a request may carry (RFC 5849 §3.1, §2.1, §2.3, body hash):
/// held as `&'static str`, so that parsing them allocates nothing.
const KNOWN_NAMES: [&str; 10] = [
    names::CONSUMER_KEY,
    names::TOKEN,
    names::SIGNATURE_METHOD,
    names::SIGNATURE,
    names::TIMESTAMP,
    names::NONCE,
    names::VERSION,
    names::CALLBACK,
    names::VERIFIER,
    names::BODY_HASH,
];

/// `name` as one of [`KNOWN_NAMES`] when it is one, else owned.
fn intern(name: Cow<'_, str>) -> Cow<'static, str> {
    match KNOWN_NAMES.iter().find(|k| **k == name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.into_owned()),
    }
}

/// Parses the parameters of an `Authorization: OAuth …` header value after the scheme
/// (RFC 5849 §3.5.1): comma-separated `name="value"` pairs, names and values
/// percent-encoded. Empty list elements are skipped (RFC 7230 §7).
pub fn parse_authorization_params(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    Ok(authorization_params(s)?.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
}

/// A decoded name and value, borrowed from the input where nothing needed decoding.
type BorrowedPair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// [`parse_authorization_params`] borrowing from `s` where nothing needed decoding.
fn authorization_params(s: &str) -> Result<Vec<BorrowedPair<'_>>, ParseError> {
    let mut out = Vec::with_capacity(8);
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Ok(out);
        }
        let eq = rest
            .bytes()
            .position(|b| b == b'=')
            .ok_or(ParseError::MalformedHeader("a parameter without '='"))?;
        let name = rest[..eq].trim_end_matches([' ', '\t']);
        if name.is_empty() || name.bytes().any(|b| matches!(b, b' ' | b'\t' | b',' | b'"')) {
            return Err(ParseError::MalformedHeader("a malformed parameter name"));
        }
        rest = rest[eq + 1..].trim_start_matches([' ', '\t']);
        let quoted =
            rest.strip_prefix('"').ok_or(ParseError::MalformedHeader("a value that is not quoted"))?;
        let end = quoted
            .bytes()
            .position(|b| b == b'"')
            .ok_or(ParseError::MalformedHeader("an unterminated quoted value"))?;
        let value = &quoted[..end];
        if value.as_bytes().contains(&b'\\') {
            return Err(ParseError::MalformedHeader("an escape in a quoted value"));
        }
        rest = quoted[end + 1..].trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return Err(ParseError::MalformedHeader("parameters not separated by ','"));
        }
        let name = decode(name).map_err(decode_err(HEADER))?;
        let value = decode(value).map_err(decode_err(HEADER))?;
        out.push((name, value));
    }
}

/// An incoming request signed with OAuth 1.0a: its protocol parameters, read from the
/// Authorization header, the query or a form body (RFC 5849 §3.5), and what the server
/// needs to rebuild its signature base string (§3.4.1).
///
/// Parsing checks only the protocol's syntax: each `oauth_*` parameter appears once, in one
/// place; `oauth_consumer_key`, `oauth_signature_method` and `oauth_signature` are present;
/// `oauth_timestamp` and `oauth_nonce` are present unless the method is PLAINTEXT (§3.1),
/// the timestamp is a positive integer of at most 18 digits, and `oauth_version` is `1.0`
/// if sent.
/// Timestamp windows, nonce replay and credential look-ups are the provider's.
#[derive(Clone)]
pub struct SignedRequest {
    method: http::Method,
    base_uri: String,
    params: Vec<(String, String)>,
    /// The protocol parameters, sorted by name; each name appears once.
    oauth: Vec<(Cow<'static, str>, String)>,
    realm: Option<String>,
    signature_type: SignatureType,
    hashed_body: Option<Vec<u8>>,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let oauth: BTreeMap<&str, &str> = self
            .oauth
            .iter()
            .map(|(k, v)| {
                let v = if k == names::VERIFIER || k == names::SIGNATURE { "[redacted]" } else { v.as_str() };
                (k.as_ref(), v)
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("base_uri", &self.base_uri)
            .field("signature_type", &self.signature_type)
            .field("realm", &self.realm)
            .field("oauth", &oauth)
            .field("params", &self.params)
            .finish()
    }
}

impl SignedRequest {
    /// Reads the protocol parameters of `request` (RFC 5849 §3.5).
    ///
    /// The request URI must be absolute (`https://host/path?query`): the scheme and host are
    /// part of the signature base string (§3.4.1.2), and only the server knows which ones
    /// the client used. A request whose URI is only a path (as servers receive it) is
    /// refused with [`ParseError::RelativeUri`] rather than guessed from the `Host` header;
    /// the provider's glue makes it absolute first
    /// ([`RequestOptions::absolute_uri`](super::provider::RequestOptions::absolute_uri)).
    pub fn from_http(request: &http::Request<Vec<u8>>) -> Result<Self, ParseError> {
        Self::from_parts(request.method(), request.uri(), request.headers(), request.body())
    }

    /// [`from_http`](Self::from_http) over borrowed parts (§3.5), for frameworks whose
    /// request type is not `http::Request<Vec<u8>>`.
    pub fn from_parts(
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Self, ParseError> {
        // A relative URI is refused, not completed from the `Host` header.
        let base_uri = base_string_uri(uri)?;

        let mut oauth: Vec<(Cow<'static, str>, String)> = Vec::with_capacity(8);
        let mut signature_type: Option<SignatureType> = None;
        let mut realm = None;
        let mut params = Vec::new();
        let mut take =
            |place: SignatureType, name: Cow<'_, str>, value: Cow<'_, str>| -> Result<(), ParseError> {
                if oauth.iter().any(|(k, _)| *k == name) {
                    return Err(ParseError::Duplicated(name.into_owned()));
                }
                match signature_type {
                    Some(first) if first != place => return Err(ParseError::MixedPlaces(first, place)),
                    _ => signature_type = Some(place),
                }
                oauth.push((intern(name), value.into_owned()));
                Ok(())
            };

        let mut seen_header = false;
        for value in headers.get_all(http::header::AUTHORIZATION) {
            let value = std::str::from_utf8(value.as_bytes()).map_err(|_| ParseError::NotUtf8(HEADER))?;
            let value = value.trim_start();
            let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("OAuth") {
                continue;
            }
            if seen_header {
                return Err(ParseError::MalformedHeader("more than one OAuth Authorization header"));
            }
            seen_header = true;
            for (name, value) in authorization_params(rest)? {
                if name == names::REALM {
                    if realm.replace(value.into_owned()).is_some() {
                        return Err(ParseError::Duplicated(name.into_owned()));
                    }
                } else if name.starts_with("oauth_") {
                    take(SignatureType::Header, name, value)?;
                } else {
                    return Err(ParseError::MalformedHeader("a parameter that is not a protocol parameter"));
                }
            }
        }

        if let Some(query) = uri.query() {
            for (name, value) in parse_form(query).map_err(decode_err("query"))? {
                if name.starts_with("oauth_") {
                    take(SignatureType::Query, name.into(), value.into())?;
                } else {
                    params.push((name, value));
                }
            }
        }

        let form = is_form(headers);
        if form && !body.is_empty() {
            let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8("body"))?;
            for (name, value) in parse_form(text).map_err(decode_err("body"))? {
                if name.starts_with("oauth_") {
                    take(SignatureType::Body, name.into(), value.into())?;
                } else {
                    params.push((name, value));
                }
            }
        }

        let signature_type = signature_type.ok_or(ParseError::NoParameters)?;
        // Names are unique, so an unstable sort is deterministic.
        oauth.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        let hashed_body = match oauth.iter().any(|(k, _)| k == names::BODY_HASH) {
            // The extension forbids oauth_body_hash on form-encoded bodies.
            true if form => return Err(ParseError::Invalid(names::BODY_HASH)),
            true => Some(body.to_vec()),
            false => None,
        };
        let request =
            Self { method: method.clone(), base_uri, params, oauth, realm, signature_type, hashed_body };
        request.check()?;
        Ok(request)
    }

    fn check(&self) -> Result<(), ParseError> {
        for name in [names::CONSUMER_KEY, names::SIGNATURE_METHOD, names::SIGNATURE] {
            if self.require(name)?.is_empty() {
                return Err(ParseError::Invalid(name));
            }
        }
        if self.signature_method() != "PLAINTEXT" {
            self.require(names::TIMESTAMP)?;
            self.require(names::NONCE)?;
        }
        if self.timestamp().is_some_and(|ts| parse_timestamp(ts).is_none()) {
            return Err(ParseError::Invalid(names::TIMESTAMP));
        }
        if self.version().is_some_and(|v| v != "1.0") {
            return Err(ParseError::Invalid(names::VERSION));
        }
        Ok(())
    }

    /// Replaces the base string URI (§3.4.1.2) with one built from `uri`, the absolute URI
    /// the client sent the request to (for servers behind TLS terminators or proxies).
    pub fn with_base_uri(mut self, uri: &str) -> Result<Self, ParseError> {
        let uri: http::Uri = uri.parse().map_err(|_| ParseError::Uri("not a URI"))?;
        self.base_uri = base_string_uri(&uri)?;
        Ok(self)
    }

    /// The value of the protocol parameter `name` (§3.1; e.g. [`names::TOKEN`]), if sent.
    pub fn oauth_param(&self, name: &str) -> Option<&str> {
        self.oauth.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of the protocol parameter `name`, or [`ParseError::Missing`]; endpoints use
    /// it for the parameters they require (`oauth_callback` at §2.1, `oauth_verifier` at
    /// §2.3, `oauth_token` on resource requests).
    pub fn require(&self, name: &'static str) -> Result<&str, ParseError> {
        self.oauth_param(name).ok_or(ParseError::Missing(name))
    }

    /// Every protocol parameter sent (§3.1), `oauth_signature` included, sorted by name.
    pub fn oauth_params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.oauth.iter().map(|(k, v)| (k.as_ref(), v.as_str()))
    }

    /// The request's other parameters (query and form body, §3.4.1.3.1), decoded, in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// `oauth_consumer_key` (§3.1).
    pub fn consumer_key(&self) -> &str {
        self.oauth_param(names::CONSUMER_KEY).unwrap_or_default()
    }
    /// `oauth_token` (§3.1), if sent.
    pub fn token(&self) -> Option<&str> {
        self.oauth_param(names::TOKEN)
    }
    /// `oauth_signature_method` (§3.1).
    pub fn signature_method(&self) -> &str {
        self.oauth_param(names::SIGNATURE_METHOD).unwrap_or_default()
    }
    /// `oauth_signature` (§3.1), decoded.
    pub fn signature(&self) -> &str {
        self.oauth_param(names::SIGNATURE).unwrap_or_default()
    }
    /// `oauth_timestamp` (§3.3) as sent; absent only with PLAINTEXT.
    pub fn timestamp(&self) -> Option<&str> {
        self.oauth_param(names::TIMESTAMP)
    }
    /// `oauth_timestamp` (§3.3) in seconds since the epoch; absent only with PLAINTEXT.
    /// Parsing refused any value that is not a positive integer of at most 18 digits, so
    /// this is `Some` exactly when [`timestamp`](Self::timestamp) is.
    pub fn timestamp_secs(&self) -> Option<i64> {
        self.timestamp().and_then(parse_timestamp)
    }
    /// `oauth_nonce` (§3.3); absent only with PLAINTEXT.
    pub fn nonce(&self) -> Option<&str> {
        self.oauth_param(names::NONCE)
    }
    /// `oauth_version` (§3.1), `1.0` when sent.
    pub fn version(&self) -> Option<&str> {
        self.oauth_param(names::VERSION)
    }
    /// `oauth_callback` (§2.1), if sent.
    pub fn callback(&self) -> Option<&str> {
        self.oauth_param(names::CALLBACK)
    }
    /// `oauth_verifier` (§2.3), if sent.
    pub fn verifier(&self) -> Option<&str> {
        self.oauth_param(names::VERIFIER)
    }
    /// `oauth_body_hash` (OAuth Request Body Hash extension §3.1), if sent.
    pub fn body_hash(&self) -> Option<&str> {
        self.oauth_param(names::BODY_HASH)
    }
    /// The `realm` of the Authorization header (§3.5.1), if sent.
    pub fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }
    /// Where the protocol parameters were found (§3.5).
    pub fn signature_type(&self) -> SignatureType {
        self.signature_type
    }
    /// The HTTP method (the first part of the base string, §3.4.1.1).
    pub fn method(&self) -> &http::Method {
        &self.method
    }
    /// The base string URI (§3.4.1.2).
    pub fn base_uri(&self) -> &str {
        &self.base_uri
    }
    /// The body `oauth_body_hash` covers, kept only when that parameter was sent.
    pub(super) fn hashed_body(&self) -> Option<&[u8]> {
        self.hashed_body.as_deref()
    }

    /// The normalised request parameters (§3.4.1.3.2): query, form body and protocol
    /// parameters, without `realm` and `oauth_signature`.
    pub fn normalized_parameters(&self) -> String {
        normalize_parameters(&self.signed_parameters())
    }

    /// Every parameter the signature covers (§3.4.1.3.1), unencoded.
    fn signed_parameters(&self) -> Vec<(&str, &str)> {
        self.signed_pairs().collect()
    }

    /// [`signed_parameters`](Self::signed_parameters) without collecting them.
    fn signed_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let params = self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        params.chain(self.oauth_params().filter(|(k, _)| *k != names::SIGNATURE))
    }

    /// The signature base string (§3.4.1.1) the server checks the signature against.
    pub fn base_string(&self) -> String {
        let count = self.params.len() + self.oauth.len();
        signature_base_string_from_pairs(&self.method, &self.base_uri, self.signed_pairs(), count)
    }
}
