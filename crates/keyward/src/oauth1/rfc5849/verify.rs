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
    use std::sync::atomic::{AtomicU8, Ordering};

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
