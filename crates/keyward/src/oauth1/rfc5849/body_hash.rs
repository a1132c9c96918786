//! `oauth_body_hash`, from the OAuth Request Body Hash extension (an OAuth 1.0 draft
//! companion to RFC 5849): integrity for bodies that are not
//! `application/x-www-form-urlencoded` and so are not covered by the signature (§3.4.1.3.1).
//!
//! The value is base64 of the digest of the raw body, with the digest of the signature
//! method ([`SignatureMethod::hash_body`]: SHA-1 for HMAC-SHA1, RSA-SHA1 and PLAINTEXT,
//! SHA-256 for the SHA-256 methods). It must not be sent with form bodies.
//! [`Signer::body_hash`](super::Signer::body_hash) adds it; [`SignedRequest::verify`]
//! checks it.
//!
//! [`SignedRequest::verify`]: super::SignedRequest::verify

use super::signature::SignatureMethod;

/// `oauth_body_hash` of `body` for `method` (Request Body Hash extension §3.2).
pub fn body_hash(method: &dyn SignatureMethod, body: &[u8]) -> String {
    method.hash_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth1::rfc5849::signature::{HmacSha1, HmacSha256};

    #[test]
    fn hashes_like_the_extension_example() {
        // The extension's example: body "Hello World!" with HMAC-SHA1.
        assert_eq!(body_hash(&HmacSha1, b"Hello World!"), "Lve95gjOVATpfV8EL5X4nxwjKHE=");
        assert_eq!(body_hash(&HmacSha1, b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        assert_eq!(body_hash(&HmacSha256, b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }
}
