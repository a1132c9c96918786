//! Server-side signature verification, RFC 5849 §3.2.

use super::error::VerifyError;
use super::params::SignedRequest;
use super::signature::{SignatureMethods, VerifyKeys};
use crate::common::ct_eq;

impl SignedRequest {
    /// Verifies the request's signature (RFC 5849 §3.2) with the method named by
    /// `oauth_signature_method`, looked up in `methods` (which refuses methods it does not
    /// know or allow), then its `oauth_body_hash` if one was sent.
    ///
    /// Shared-secret methods compare in constant time. Timestamp, nonce and credential
    /// checks are the caller's (§3.2 lists them; the provider performs them).
    pub fn verify(&self, methods: &SignatureMethods, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        let method = methods.get(self.signature_method())?;
        method.verify(&self.base_string(), self.signature(), keys)?;
        match (self.body_hash(), self.hashed_body()) {
            (Some(sent), Some(body)) if !ct_eq(method.hash_body(body).as_bytes(), sent.as_bytes()) => {
                Err(VerifyError::InvalidBodyHash)
            }
            _ => Ok(()),
        }
    }
}
