//! Reading an incoming request's protocol parameters, RFC 5849 §3.5, the request's
//! signature base string (§3.4.1) as the server rebuilds it, and verifying its signature
//! (§3.2).

use super::base_string::{
    base_string_uri_into, normalize_parameters, push_method_and_uri, signature_base_string_from_pairs,
};
use super::error::{ParseError, VerifyError};
use super::names;
use super::signature::{SignatureMethods, VerifyKeys};
use super::signature_type::SignatureType;
use crate::common::ct_eq;
use crate::common::encoding::{DecodeError, decode_into, encode_to, parse_form};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

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

/// The protocol parameter names a request may carry (RFC 5849 §3.1, §2.1, §2.3, body hash),
/// sorted: a parsed request keeps each one's value in the slot of the same index.
const KNOWN_NAMES: [&str; 10] = [
    names::BODY_HASH,
    names::CALLBACK,
    names::CONSUMER_KEY,
    names::NONCE,
    names::SIGNATURE,
    names::SIGNATURE_METHOD,
    names::TIMESTAMP,
    names::TOKEN,
    names::VERIFIER,
    names::VERSION,
];

/// Slots of [`KNOWN_NAMES`].
const BODY_HASH: usize = 0;
const CALLBACK: usize = 1;
const CONSUMER_KEY: usize = 2;
const NONCE: usize = 3;
const SIGNATURE: usize = 4;
const SIGNATURE_METHOD: usize = 5;
const TIMESTAMP: usize = 6;
const TOKEN: usize = 7;
const VERIFIER: usize = 8;
const VERSION: usize = 9;

/// The slot of `name` in [`KNOWN_NAMES`], if it is one.
fn known_index(name: &str) -> Option<usize> {
    KNOWN_NAMES.iter().position(|k| *k == name)
}

/// A piece of a [`SignedRequest`]'s text buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// Appends the base string URI (§3.4.1.2) of `uri` to `buf` and returns where it went.
fn base_uri_span(buf: &mut String, uri: &http::Uri) -> Result<Span, ParseError> {
    let start = buf.len();
    base_string_uri_into(buf, uri)?;
    Ok(Span { start, end: buf.len() })
}

/// Appends `text` to `buf` and returns where it went.
fn push_span(buf: &mut String, text: &str) -> Span {
    let start = buf.len();
    buf.push_str(text);
    Span { start, end: buf.len() }
}

/// Parses the parameters of an `Authorization: OAuth …` header value after the scheme
/// (RFC 5849 §3.5.1): comma-separated `name="value"` pairs, names and values
/// percent-encoded. Empty list elements are skipped (RFC 7230 §7).
pub fn parse_authorization_params(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut buf = String::with_capacity(s.len());
    let mut spans = Vec::new();
    authorization_params(s, &mut buf, |name, value| spans.push((name, value)))?;
    let text = |s: Span| buf[s.start..s.end].to_owned();
    Ok(spans.into_iter().map(|(k, v)| (text(k), text(v))).collect())
}

/// True for the whitespace of RFC 7230 (`OWS`).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// [`parse_authorization_params`] decoding every name and value into `buf` and passing
/// where each pair went to `each`, in order. Syntax and decoding are checked pair by pair,
/// in order, before `each` sees the pair.
fn authorization_params(
    s: &str,
    buf: &mut String,
    mut each: impl FnMut(Span, Span),
) -> Result<(), ParseError> {
    // Every delimiter is ASCII, so each index below is a character boundary of `s`.
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (is_ows(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i == b.len() {
            return Ok(());
        }
        let eq = i + b[i..]
            .iter()
            .position(|&c| c == b'=')
            .ok_or(ParseError::MalformedHeader("a parameter without '='"))?;
        let mut name_end = eq;
        while name_end > i && is_ows(b[name_end - 1]) {
            name_end -= 1;
        }
        let name = &b[i..name_end];
        if name.is_empty() || name.iter().any(|&c| matches!(c, b' ' | b'\t' | b',' | b'"')) {
            return Err(ParseError::MalformedHeader("a malformed parameter name"));
        }
        let (name_start, mut j) = (i, eq + 1);
        while j < b.len() && is_ows(b[j]) {
            j += 1;
        }
        if b.get(j) != Some(&b'"') {
            return Err(ParseError::MalformedHeader("a value that is not quoted"));
        }
        let value_start = j + 1;
        let value_end = value_start
            + b[value_start..]
                .iter()
                .position(|&c| c == b'"')
                .ok_or(ParseError::MalformedHeader("an unterminated quoted value"))?;
        if b[value_start..value_end].contains(&b'\\') {
            return Err(ParseError::MalformedHeader("an escape in a quoted value"));
        }
        i = value_end + 1;
        while i < b.len() && is_ows(b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] != b',' {
            return Err(ParseError::MalformedHeader("parameters not separated by ','"));
        }
        let name_span = decode_span(buf, &s[name_start..name_end])?;
        let value_span = decode_span(buf, &s[value_start..value_end])?;
        each(name_span, value_span);
    }
}

/// Decodes a header name or value (§3.5.1) into `buf`.
fn decode_span(buf: &mut String, text: &str) -> Result<Span, ParseError> {
    let start = buf.len();
    decode_into(buf, text).map_err(decode_err(HEADER))?;
    Ok(Span { start, end: buf.len() })
}

/// How many header parameters [`SignedRequest::from_parts`] holds on the stack before it
/// spills to the heap (a request has seven or eight).
const INLINE_HEADER_PARAMS: usize = 12;

/// A [`SignedRequest`]'s protocol parameters while they are read (§3.5).
struct Collector {
    buf: String,
    known: [Option<Span>; KNOWN_NAMES.len()],
    other: Vec<(Span, Span)>,
    signature_type: Option<SignatureType>,
}

impl Collector {
    fn text(&self, span: Span) -> &str {
        &self.buf[span.start..span.end]
    }

    /// Records a protocol parameter found in `place`: each name once, all in one place.
    fn take(&mut self, place: SignatureType, name: Span, value: Span) -> Result<(), ParseError> {
        let text = self.text(name);
        let slot = known_index(text);
        let seen = match slot {
            Some(i) => self.known[i].is_some(),
            None => self.other.iter().any(|(k, _)| self.text(*k) == text),
        };
        if seen {
            return Err(ParseError::Duplicated(text.to_owned()));
        }
        match self.signature_type {
            Some(first) if first != place => return Err(ParseError::MixedPlaces(first, place)),
            _ => self.signature_type = Some(place),
        }
        match slot {
            Some(i) => self.known[i] = Some(value),
            None => self.other.push((name, value)),
        }
        Ok(())
    }

    /// Records the form-encoded parameters of `text` (§3.5.2, §3.5.3): protocol ones
    /// through [`take`](Self::take), the others in `params`.
    fn take_form(
        &mut self,
        place: SignatureType,
        text: &str,
        what: &'static str,
        params: &mut Vec<(String, String)>,
    ) -> Result<(), ParseError> {
        for (name, value) in parse_form(text).map_err(decode_err(what))? {
            if name.starts_with("oauth_") {
                let name = push_span(&mut self.buf, &name);
                let value = push_span(&mut self.buf, &value);
                self.take(place, name, value)?;
            } else {
                params.push((name, value));
            }
        }
        Ok(())
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
    /// The base string URI, `realm` and the protocol parameters' decoded names and values,
    /// one after the other: one allocation for them all.
    buf: String,
    base_uri: Span,
    params: Vec<(String, String)>,
    /// The values of the protocol parameters of [`KNOWN_NAMES`], by slot.
    known: [Option<Span>; KNOWN_NAMES.len()],
    /// Other `oauth_*` parameters, sorted by name; each name appears once.
    other: Vec<(Span, Span)>,
    /// `oauth_timestamp`, read once.
    timestamp_secs: Option<i64>,
    realm: Option<Span>,
    signature_type: SignatureType,
    hashed_body: Option<Vec<u8>>,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let oauth: BTreeMap<&str, &str> = self
            .oauth_params()
            .map(|(k, v)| {
                let v = if k == names::VERIFIER || k == names::SIGNATURE { "[redacted]" } else { v };
                (k, v)
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("base_uri", &self.base_uri())
            .field("signature_type", &self.signature_type)
            .field("realm", &self.realm())
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
        // Decoded text is never longer than its encoding, so one allocation usually holds
        // the base string URI and every header parameter.
        let header_len = headers.get(http::header::AUTHORIZATION).map_or(0, |v| v.len());
        let mut buf = String::with_capacity(
            uri.authority().map_or(0, |a| a.as_str().len()) + uri.path().len() + 16 + header_len,
        );
        // A relative URI is refused, not completed from the `Host` header.
        let base_uri = base_uri_span(&mut buf, uri)?;

        let mut found =
            Collector { buf, known: [None; KNOWN_NAMES.len()], other: Vec::new(), signature_type: None };
        let mut realm = None;
        let mut params = Vec::new();

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
            // The whole header is read before any of its parameters is judged.
            let mut inline = [(Span::default(), Span::default()); INLINE_HEADER_PARAMS];
            let (mut count, mut spilled) = (0, Vec::new());
            authorization_params(rest, &mut found.buf, |name, value| {
                match inline.get_mut(count) {
                    Some(slot) => *slot = (name, value),
                    None => spilled.push((name, value)),
                }
                count += 1;
            })?;
            for &(name, value) in inline[..count.min(INLINE_HEADER_PARAMS)].iter().chain(&spilled) {
                let text = found.text(name);
                if text == names::REALM {
                    if realm.replace(value).is_some() {
                        return Err(ParseError::Duplicated(text.to_owned()));
                    }
                } else if text.starts_with("oauth_") {
                    found.take(SignatureType::Header, name, value)?;
                } else {
                    return Err(ParseError::MalformedHeader("a parameter that is not a protocol parameter"));
                }
            }
        }

        if let Some(query) = uri.query() {
            found.take_form(SignatureType::Query, query, "query", &mut params)?;
        }

        let form = is_form(headers);
        if form && !body.is_empty() {
            let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8("body"))?;
            found.take_form(SignatureType::Body, text, "body", &mut params)?;
        }

        let Collector { buf, known, mut other, signature_type } = found;
        let signature_type = signature_type.ok_or(ParseError::NoParameters)?;
        // Names are unique, so an unstable sort is deterministic.
        other.sort_unstable_by(|(a, _), (b, _)| buf[a.start..a.end].cmp(&buf[b.start..b.end]));
        let hashed_body = match known[BODY_HASH].is_some() {
            // The extension forbids oauth_body_hash on form-encoded bodies.
            true if form => return Err(ParseError::Invalid(names::BODY_HASH)),
            true => Some(body.to_vec()),
            false => None,
        };
        let timestamp_secs = known[TIMESTAMP].and_then(|ts| parse_timestamp(&buf[ts.start..ts.end]));
        let request = Self {
            method: method.clone(),
            buf,
            base_uri,
            params,
            known,
            other,
            timestamp_secs,
            realm,
            signature_type,
            hashed_body,
        };
        request.check()?;
        Ok(request)
    }

    fn check(&self) -> Result<(), ParseError> {
        for (slot, name) in [
            (CONSUMER_KEY, names::CONSUMER_KEY),
            (SIGNATURE_METHOD, names::SIGNATURE_METHOD),
            (SIGNATURE, names::SIGNATURE),
        ] {
            if self.known(slot).ok_or(ParseError::Missing(name))?.is_empty() {
                return Err(ParseError::Invalid(name));
            }
        }
        if self.signature_method() != "PLAINTEXT" {
            self.known(TIMESTAMP).ok_or(ParseError::Missing(names::TIMESTAMP))?;
            self.known(NONCE).ok_or(ParseError::Missing(names::NONCE))?;
        }
        if self.timestamp().is_some() && self.timestamp_secs.is_none() {
            return Err(ParseError::Invalid(names::TIMESTAMP));
        }
        if self.version().is_some_and(|v| v != "1.0") {
            return Err(ParseError::Invalid(names::VERSION));
        }
        Ok(())
    }

    fn text(&self, span: Span) -> &str {
        &self.buf[span.start..span.end]
    }

    /// The value of the known protocol parameter in `slot` of [`KNOWN_NAMES`].
    fn known(&self, slot: usize) -> Option<&str> {
        self.known[slot].map(|v| self.text(v))
    }

    /// Replaces the base string URI (§3.4.1.2) with one built from `uri`, the absolute URI
    /// the client sent the request to (for servers behind TLS terminators or proxies).
    pub fn with_base_uri(mut self, uri: &str) -> Result<Self, ParseError> {
        let uri: http::Uri = uri.parse().map_err(|_| ParseError::Uri("not a URI"))?;
        // Appended; the old one stays in the buffer, unused.
        self.base_uri = base_uri_span(&mut self.buf, &uri)?;
        Ok(self)
    }

    /// The value of the protocol parameter `name` (§3.1; e.g. [`names::TOKEN`]), if sent.
    pub fn oauth_param(&self, name: &str) -> Option<&str> {
        match known_index(name) {
            Some(slot) => self.known(slot),
            None => self.other.iter().find(|(k, _)| self.text(*k) == name).map(|(_, v)| self.text(*v)),
        }
    }

    /// The value of the protocol parameter `name`, or [`ParseError::Missing`]; endpoints use
    /// it for the parameters they require (`oauth_callback` at §2.1, `oauth_verifier` at
    /// §2.3, `oauth_token` on resource requests).
    pub fn require(&self, name: &'static str) -> Result<&str, ParseError> {
        self.oauth_param(name).ok_or(ParseError::Missing(name))
    }

    /// Every protocol parameter sent (§3.1), `oauth_signature` included, sorted by name.
    pub fn oauth_params(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut known = KNOWN_NAMES
            .iter()
            .zip(&self.known)
            .filter_map(|(name, value)| value.map(|v| (*name, self.text(v))))
            .peekable();
        let mut other = self.other.iter().map(|(k, v)| (self.text(*k), self.text(*v))).peekable();
        // Both are sorted by name: merge them.
        std::iter::from_fn(move || match (known.peek(), other.peek()) {
            (Some(k), Some(o)) if o.0 < k.0 => other.next(),
            (Some(_), _) => known.next(),
            (None, _) => other.next(),
        })
    }

    /// The request's other parameters (query and form body, §3.4.1.3.1), decoded, in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// `oauth_consumer_key` (§3.1).
    pub fn consumer_key(&self) -> &str {
        self.known(CONSUMER_KEY).unwrap_or_default()
    }
    /// `oauth_token` (§3.1), if sent.
    pub fn token(&self) -> Option<&str> {
        self.known(TOKEN)
    }
    /// `oauth_signature_method` (§3.1).
    pub fn signature_method(&self) -> &str {
        self.known(SIGNATURE_METHOD).unwrap_or_default()
    }
    /// `oauth_signature` (§3.1), decoded.
    pub fn signature(&self) -> &str {
        self.known(SIGNATURE).unwrap_or_default()
    }
    /// `oauth_timestamp` (§3.3) as sent; absent only with PLAINTEXT.
    pub fn timestamp(&self) -> Option<&str> {
        self.known(TIMESTAMP)
    }
    /// `oauth_timestamp` (§3.3) in seconds since the epoch; absent only with PLAINTEXT.
    /// Parsing refused any value that is not a positive integer of at most 18 digits, so
    /// this is `Some` exactly when [`timestamp`](Self::timestamp) is.
    pub fn timestamp_secs(&self) -> Option<i64> {
        self.timestamp_secs
    }
    /// `oauth_nonce` (§3.3); absent only with PLAINTEXT.
    pub fn nonce(&self) -> Option<&str> {
        self.known(NONCE)
    }
    /// `oauth_version` (§3.1), `1.0` when sent.
    pub fn version(&self) -> Option<&str> {
        self.known(VERSION)
    }
    /// `oauth_callback` (§2.1), if sent.
    pub fn callback(&self) -> Option<&str> {
        self.known(CALLBACK)
    }
    /// `oauth_verifier` (§2.3), if sent.
    pub fn verifier(&self) -> Option<&str> {
        self.known(VERIFIER)
    }
    /// `oauth_body_hash` (OAuth Request Body Hash extension §3.1), if sent.
    pub fn body_hash(&self) -> Option<&str> {
        self.known(BODY_HASH)
    }
    /// The `realm` of the Authorization header (§3.5.1), if sent.
    pub fn realm(&self) -> Option<&str> {
        self.realm.map(|r| self.text(r))
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
        self.text(self.base_uri)
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
        let mut out = String::new();
        self.push_base_string(&mut out);
        out
    }

    /// [`base_string`](Self::base_string) appended to `out`.
    pub(super) fn push_base_string(&self, out: &mut String) {
        if !(self.params.is_empty() && self.other.is_empty()) {
            let count = self.params.len() + KNOWN_NAMES.len() + self.other.len();
            let base = self.base_uri();
            out.push_str(&signature_base_string_from_pairs(&self.method, base, self.signed_pairs(), count));
            return;
        }
        // Only known protocol parameters: their names are unreserved (encoding leaves them
        // as they are), unique and in sorted order, so they are already in the order of
        // §3.4.1.3.2 and go straight into the base string, encoded twice (§3.4.1.1).
        let values: usize = self.known.iter().flatten().map(|v| v.end - v.start).sum();
        out.reserve(self.method.as_str().len() + 3 * self.base_uri().len() + 3 * values + 200);
        push_method_and_uri(out, &self.method, self.base_uri());
        let mut first = true;
        for (slot, name) in KNOWN_NAMES.iter().enumerate() {
            if slot == SIGNATURE {
                continue;
            }
            if let Some(value) = self.known(slot) {
                if !first {
                    out.push_str("%26");
                }
                first = false;
                out.push_str(name);
                out.push_str("%3D");
                encode_to(out, value, true);
            }
        }
    }
}

// Server-side signature verification, RFC 5849 §3.2.

/// The largest base string buffer kept for the next verification on this thread.
const KEPT_BASE_STRING: usize = 4096;

thread_local! {
    /// A base string buffer reused from one verification to the next on a thread, so that
    /// verifying allocates nothing for it. Taken out while in use, so a nested
    /// verification (a custom method verifying another request) just gets a new one.
    static BASE_STRING: Cell<String> = const { Cell::new(String::new()) };
}

impl SignedRequest {
    /// Verifies the request's signature (RFC 5849 §3.2) with the method named by
    /// `oauth_signature_method`, looked up in `methods` (which refuses methods it does not
    /// know or allow), then its `oauth_body_hash` if one was sent.
    ///
    /// Shared-secret methods compare in constant time. Timestamp, nonce and credential
    /// checks are the caller's (§3.2 lists them; the provider performs them).
    pub fn verify(&self, methods: &SignatureMethods, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        let method = methods.get(self.signature_method())?;
        // `try_with`: in a thread-local destructor that runs after the buffer's own, a new
        // buffer is used rather than panicking.
        let mut base = BASE_STRING.try_with(Cell::take).unwrap_or_default();
        base.clear();
        self.push_base_string(&mut base);
        let verified = method.verify(&base, self.signature(), keys);
        if base.capacity() <= KEPT_BASE_STRING {
            let _ = BASE_STRING.try_with(|kept| kept.set(base));
        }
        verified?;
        match (self.body_hash(), self.hashed_body()) {
            (Some(sent), Some(body)) if !ct_eq(method.hash_body(body).as_bytes(), sent.as_bytes()) => {
                Err(VerifyError::InvalidBodyHash)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::encoding::is_unreserved;
    use std::sync::atomic::{AtomicU8, Ordering};

    #[test]
    fn known_names_are_sorted_unique_and_unreserved() {
        assert!(KNOWN_NAMES.windows(2).all(|w| w[0] < w[1]), "{KNOWN_NAMES:?}");
        assert!(KNOWN_NAMES.iter().all(|n| n.bytes().all(is_unreserved)));
        let slots = [
            (BODY_HASH, names::BODY_HASH),
            (CALLBACK, names::CALLBACK),
            (CONSUMER_KEY, names::CONSUMER_KEY),
            (NONCE, names::NONCE),
            (SIGNATURE, names::SIGNATURE),
            (SIGNATURE_METHOD, names::SIGNATURE_METHOD),
            (TIMESTAMP, names::TIMESTAMP),
            (TOKEN, names::TOKEN),
            (VERIFIER, names::VERIFIER),
            (VERSION, names::VERSION),
        ];
        for (slot, name) in slots {
            assert_eq!(KNOWN_NAMES[slot], name);
        }
    }

    #[test]
    fn the_direct_base_string_equals_the_general_one() {
        let header = "OAuth realm=\"r\", oauth_consumer_key=\"k%20ey\", oauth_token=\"t\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"137131201\", oauth_nonce=\"n%C3%A9\", \
             oauth_signature=\"s%2B%3D\", oauth_version=\"1.0\", oauth_callback=\"http%3A%2F%2Fx%2Fy\"";
        let req = http::Request::post("HTTPS://Example.com:443/a%20b")
            .header(http::header::AUTHORIZATION, header)
            .body(Vec::new())
            .unwrap();
        let parsed = SignedRequest::from_http(&req).unwrap();
        let general =
            signature_base_string_from_pairs(parsed.method(), parsed.base_uri(), parsed.signed_pairs(), 0);
        assert_eq!(parsed.base_string(), general);
        assert_eq!(parsed.realm(), Some("r"));
        assert_eq!(parsed.signature(), "s+=");
        let names: Vec<&str> = parsed.oauth_params().map(|(k, _)| k).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    }

    #[test]
    fn other_protocol_parameters_merge_in_name_order() {
        let header = "OAuth oauth_zeta=\"1\", oauth_consumer_key=\"k\", oauth_signature_method=\"PLAINTEXT\", \
             oauth_signature=\"s\", oauth_alpha=\"2\", oauth_p%20q=\"3\"";
        let req = http::Request::get("https://example.com/")
            .header(http::header::AUTHORIZATION, header)
            .body(Vec::new())
            .unwrap();
        let parsed = SignedRequest::from_http(&req).unwrap();
        let names: Vec<&str> = parsed.oauth_params().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "oauth_alpha",
                "oauth_consumer_key",
                "oauth_p q",
                "oauth_signature",
                "oauth_signature_method",
                "oauth_zeta"
            ]
        );
        assert_eq!(parsed.oauth_param("oauth_p q"), Some("3"));
        assert_eq!(parsed.oauth_param("oauth_zeta"), Some("1"));
        assert_eq!(parsed.oauth_param("oauth_nope"), None);
        let pairs: Vec<(&str, &str)> = parsed.signed_pairs().collect();
        let want = signature_base_string_from_pairs(parsed.method(), parsed.base_uri(), pairs.into_iter(), 0);
        assert_eq!(parsed.base_string(), want);
        let moved = parsed.clone().with_base_uri("https://other.example/x?y=1").unwrap();
        assert_eq!(moved.base_uri(), "https://other.example/x");
        assert_eq!(moved.consumer_key(), "k");
    }

    fn verify_plaintext() -> Result<(), VerifyError> {
        let header =
            "OAuth oauth_consumer_key=\"k\", oauth_signature_method=\"PLAINTEXT\", oauth_signature=\"s%26\"";
        let req = http::Request::get("https://example.com/")
            .header(http::header::AUTHORIZATION, header)
            .body(Vec::new())
            .unwrap();
        let keys = VerifyKeys { client_secret: "s", token_secret: "", rsa_public_key: None };
        SignedRequest::from_http(&req).unwrap().verify(&SignatureMethods::default(), &keys)
    }

    /// Verifying works in a thread-local destructor that runs after the reused buffer's
    /// own destructor (thread-locals are destroyed in reverse order of first use).
    #[test]
    fn verifies_after_the_buffer_is_destroyed() {
        static OUTCOME: AtomicU8 = AtomicU8::new(0);
        struct VerifyOnDrop;
        impl Drop for VerifyOnDrop {
            fn drop(&mut self) {
                let outcome = match std::panic::catch_unwind(verify_plaintext) {
                    Ok(Ok(())) => 1,
                    Ok(Err(_)) => 2,
                    Err(_) => 3,
                };
                OUTCOME.store(outcome, Ordering::SeqCst);
            }
        }
        thread_local! {
            static GUARD: VerifyOnDrop = const { VerifyOnDrop };
        }
        std::thread::spawn(|| {
            GUARD.with(|_| {});
            assert_eq!(verify_plaintext(), Ok(()));
        })
        .join()
        .unwrap();
        assert_eq!(OUTCOME.load(Ordering::SeqCst), 1, "1 verified, 2 refused, 3 panicked");
    }
}
