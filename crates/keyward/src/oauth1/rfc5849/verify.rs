//! Server-side signature verification, RFC 5849 §3.2.

use super::error::VerifyError;
use super::params::SignedRequest;
use super::signature::{SignatureMethods, VerifyKeys};
use crate::common::ct_eq;
use std::cell::Cell;

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
        let mut base = BASE_STRING.take();
        base.clear();
        self.push_base_string(&mut base);
        let verified = method.verify(&base, self.signature(), keys);
        if base.capacity() <= KEPT_BASE_STRING {
            BASE_STRING.set(base);
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
