//! RFC 3986 percent-encoding and `application/x-www-form-urlencoded` parsing.
//!
//! OAuth 1.0a (RFC 5849 §3.6) encodes every character outside the unreserved set
//! `ALPHA / DIGIT / "-" / "." / "_" / "~"` as `%XX` with uppercase hex. Decoding is strict:
//! a malformed escape or bytes that are not UTF-8 are an error, never replaced silently,
//! because signatures are computed over the decoded values.

use std::borrow::Cow;

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
    let mut out = String::with_capacity(encoded_len(s));
    encode_to(&mut out, s, false);
    Cow::Owned(out)
}

/// RFC 3986 §2.3 unreserved: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
pub(crate) fn is_unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

/// [`is_unreserved`] for every byte value, as a table (one load per byte when encoding).
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

/// Where [`encode_to`] writes: ASCII pieces of the encoded text, in order.
pub(crate) trait EncodeSink {
    /// Appends `piece` (always ASCII).
    fn push(&mut self, piece: &str);
}

impl EncodeSink for String {
    fn push(&mut self, piece: &str) {
        self.push_str(piece);
    }
}

/// `%XX` for every byte value, uppercase hex (RFC 5849 §3.6), as one table: `ESCAPES[3 * b..][..3]`.
const ESCAPES: &str = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const BYTES: [u8; 768] = {
        let mut out = [0u8; 768];
        let mut b = 0;
        while b < 256 {
            out[3 * b] = b'%';
            out[3 * b + 1] = HEX[b >> 4];
            out[3 * b + 2] = HEX[b & 15];
            b += 1;
        }
        out
    };
    match std::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("the escape table is ASCII"),
    }
};

/// The escape of byte `b`, `%XX`.
fn escape(b: u8) -> &'static str {
    let i = 3 * usize::from(b);
    &ESCAPES[i..i + 3]
}

/// [`encode`] written to `sink`: runs of unreserved characters as they are, every other byte
/// as `%XX`. With `twice`, the result is encoded a second time (only `%` changes, to `%25`),
/// as the signature base string encodes the normalised parameters (§3.4.1.1).
pub(crate) fn encode_to(sink: &mut impl EncodeSink, s: &str, twice: bool) {
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !is_unreserved(b) {
            // Escapes and unreserved characters are ASCII, so `i` is a character boundary.
            if run < i {
                sink.push(&s[run..i]);
            }
            if twice {
                sink.push("%25");
                sink.push(&escape(b)[1..]);
            } else {
                sink.push(escape(b));
            }
            run = i + 1;
        }
    }
    if run < bytes.len() {
        sink.push(&s[run..]);
    }
}

/// The length of [`encode`]`(s)`.
pub(crate) fn encoded_len(s: &str) -> usize {
    s.bytes().map(|b| if is_unreserved(b) { 1 } else { 3 }).sum()
}

/// [`encode`] appended to `out`, without an intermediate string.
pub fn encode_into(out: &mut String, s: &str) {
    encode_to(out, s, false);
}

/// Strictly percent-decodes `s` (a `+` stays a `+`).
pub fn decode(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    if !s.as_bytes().contains(&b'%') {
        // Nothing to decode, and `s` is UTF-8 already.
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    decode_into(&mut out, s)?;
    Ok(Cow::Owned(out))
}

/// [`decode`] appended to `out`, without an intermediate string. On error, `out` may hold
/// part of the value.
pub(crate) fn decode_into(out: &mut String, s: &str) -> Result<(), DecodeError> {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        out.push_str(s);
        return Ok(());
    }
    check_escapes(bytes)?;
    // A run of escapes must decode to whole characters on its own: the characters around it
    // are whole already (`s` is UTF-8), so an escaped byte cannot pair with them.
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let start = i;
            while i < bytes.len() && bytes[i] == b'%' {
                i += 3;
            }
            push_decoded_escapes(out, &bytes[start..i])?;
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b'%' {
                i += 1;
            }
            // `%` is ASCII, so both ends are character boundaries.
            out.push_str(&s[start..i]);
        }
    }
    Ok(())
}

/// Decodes `escapes`, a run of checked `%XX` escapes, and appends it if it is UTF-8.
fn push_decoded_escapes(out: &mut String, escapes: &[u8]) -> Result<(), DecodeError> {
    fn hex(d: u8) -> u8 {
        match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d - b'A' + 10,
        }
    }
    // Decoded in chunks on the stack; a character cut at a chunk's end moves to the next.
    let mut chunk = [0u8; 64];
    let mut len = 0;
    let mut escapes = escapes.chunks_exact(3).peekable();
    while let Some(e) = escapes.next() {
        chunk[len] = (hex(e[1]) << 4) | hex(e[2]);
        len += 1;
        let last = escapes.peek().is_none();
        if len < chunk.len() && !last {
            continue;
        }
        match std::str::from_utf8(&chunk[..len]) {
            Ok(text) => {
                out.push_str(text);
                len = 0;
            }
            Err(e) if e.error_len().is_none() && !last => {
                let valid = e.valid_up_to();
                out.push_str(std::str::from_utf8(&chunk[..valid]).map_err(|_| DecodeError::NotUtf8)?);
                chunk.copy_within(valid..len, 0);
                len -= valid;
            }
            Err(_) => return Err(DecodeError::NotUtf8),
        }
    }
    Ok(())
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
        let unreserved: Vec<u8> = (0..=255u8).filter(|b| is_unreserved(*b)).collect();
        assert_eq!(unreserved, b"-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~");
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

    /// `decode` by another implementation: the `percent-encoding` crate's decoder after the
    /// same strictness checks.
    fn reference_decode(s: &str) -> Result<String, DecodeError> {
        check_escapes(s.as_bytes())?;
        let decoded = percent_encoding::percent_decode(s.as_bytes()).decode_utf8();
        decoded.map(Cow::into_owned).map_err(|_| DecodeError::NotUtf8)
    }

    #[test]
    fn decode_into_equals_a_reference_decoder() {
        let long_snowmen = "%E2%98%83".repeat(40);
        let cases = [
            "",
            "abc",
            "%41%2b+",
            "%4",
            "%zz",
            "%FF",
            "a%C3%A9b",
            "%C3",
            "%C3%",
            "é%20ü",
            "%C3é",
            "%E2%98",
            "%E2%98%83%E2%98%83x",
            &long_snowmen,
            "%F0%9F%98%80%F0%9F%98",
        ];
        for case in cases {
            // A run longer than one chunk, cut inside a character.
            for s in [case.to_owned(), format!("{}{case}", "%41".repeat(63))] {
                let mut out = String::from("x");
                let got = decode_into(&mut out, &s).map(|()| out[1..].to_owned());
                assert_eq!(got, reference_decode(&s), "{s}");
                assert_eq!(decode(&s).map(Cow::into_owned), reference_decode(&s), "{s}");
            }
        }
        let mut out = String::new();
        encode_to(&mut out, "a b/é~", true);
        assert_eq!(out, "a%2520b%252F%25C3%25A9~");
        assert_eq!(encoded_len("a b/é~"), encode("a b/é~").len());
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
