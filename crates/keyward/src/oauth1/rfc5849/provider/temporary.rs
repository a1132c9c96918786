//! The temporary credential endpoint, RFC 5849 §2.1.

use super::config::CredentialKind;
use super::error::{InvalidRequest, ProviderError};
use super::response::form_pairs;
use super::server::{AuthorizationServer, LookUp, required};
use crate::common::secret::SecretString;
use crate::oauth1::rfc5849::names;
use crate::oauth1::rfc5849::store::TemporaryCredential;

/// URL schemes never accepted as a callback, registered or not: a browser sent there runs
/// or reads something instead of reaching the client, with the token and verifier in the URL.
pub const FORBIDDEN_CALLBACK_SCHEMES: [&str; 4] = ["javascript", "data", "vbscript", "file"];

/// The longest `oauth_callback` accepted, in bytes (RFC 5849 sets no limit; the provider
/// keeps the callback with the temporary credential, so an unbounded one lets any client
/// fill the store).
pub const MAX_CALLBACK_BYTES: usize = 2048;

/// True for `oob` or an absolute URL that can carry a query (RFC 5849 §2.1), whose scheme
/// is not one of [`FORBIDDEN_CALLBACK_SCHEMES`] (in any case). Which of these a client may
/// use is [`Client::accepts_callback`]'s call.
///
/// [`Client::accepts_callback`]: crate::oauth1::rfc5849::store::Client::accepts_callback
pub(crate) fn is_valid_callback(callback: &str) -> bool {
    callback == "oob"
        || url::Url::parse(callback).is_ok_and(|u| {
            // `Url` lowercases the scheme.
            !u.cannot_be_a_base() && !FORBIDDEN_CALLBACK_SCHEMES.contains(&u.scheme())
        })
}

impl AuthorizationServer {
    /// Issues temporary credentials (RFC 5849 §2.1) for a signed `POST` carrying
    /// `oauth_callback`, and stores them with the configured lifetime.
    ///
    /// Checks, in order: the method is POST (else `405`), transport, parameters, the
    /// signature-method allow-list, the timestamp window, `oauth_callback` (at most
    /// [`MAX_CALLBACK_BYTES`], else `400`; `oob` or an absolute URL whose scheme is not one
    /// of [`FORBIDDEN_CALLBACK_SCHEMES`]), the client, the signature (with an empty token
    /// secret), that the client may use `oauth_callback` ([`Client::accepts_callback`]:
    /// registered, or https, or http to a loopback host) and the nonce. Last, the credential
    /// is stored unless the client already has
    /// [`max_pending_temporary_credentials`](super::ProviderConfig::with_max_pending_temporary_credentials)
    /// pending ([`ProviderError::TooManyPending`], `429`).
    ///
    /// [`Client::accepts_callback`]: crate::oauth1::rfc5849::store::Client::accepts_callback
    pub async fn issue_temporary_credential(
        &self,
        req: &http::Request<Vec<u8>>,
    ) -> Result<TemporaryCredential, ProviderError> {
        if req.method() != http::Method::POST {
            return Err(ProviderError::MethodNotAllowed);
        }
        let inner = &*self.inner;
        let checked = inner
            .authenticate(req, LookUp::Client, move |checked, _| async move {
                let callback = required(checked.request.callback(), names::CALLBACK)?;
                if !is_valid_callback(callback) {
                    return Err(InvalidRequest::InvalidCallback.into());
                }
                // The client's registered callbacks are judged once the request is known to
                // come from the client, so that no one else can probe them; the nonce stays
                // last.
                inner.verify_signature(&checked, "")?;
                if !checked.client.accepts_callback(callback) {
                    return Err(InvalidRequest::UnregisteredCallback.into());
                }
                Ok(checked)
            })
            .await?;
        let callback = checked.request.callback().unwrap_or_default();
        let (client_id, now) = (&checked.client.client_id, checked.now);
        inner
            .store_new(
                |inner| TemporaryCredential {
                    token: inner.generate(CredentialKind::TemporaryToken),
                    secret: SecretString::new(inner.generate(CredentialKind::TemporarySecret)),
                    client_id: client_id.clone(),
                    callback_uri: callback.to_owned(),
                    expires_at: now.saturating_add(inner.config.temporary_credential_ttl),
                    authorization: None,
                },
                |store, c| match inner.config.max_pending_temporary_credentials {
                    Some(max) => store.create_temporary_credential_capped(c, now, max),
                    None => store.create_temporary_credential(c, now),
                },
            )
            .await
    }

    /// [`issue_temporary_credential`](Self::issue_temporary_credential) as a response:
    /// `oauth_token`, `oauth_token_secret` and `oauth_callback_confirmed=true`, form-encoded,
    /// not cacheable (RFC 5849 §2.1), or the error's response.
    pub async fn create_temporary_credential_response(
        &self,
        req: &http::Request<Vec<u8>>,
    ) -> http::Response<Vec<u8>> {
        match self.issue_temporary_credential(req).await {
            Ok(c) => form_pairs([
                (names::TOKEN, c.token.as_str()),
                (names::TOKEN_SECRET, c.secret.secret()),
                (names::CALLBACK_CONFIRMED, "true"),
            ]),
            Err(e) => e.to_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn callbacks_are_oob_or_absolute() {
        for ok in ["oob", "https://c.example/cb?x=1", "http://127.0.0.1:9/cb", "myapp://done"] {
            assert!(super::is_valid_callback(ok), "{ok}");
        }
        for bad in ["", "OOB", "/cb", "c.example/cb", "javascript:alert(1)", "mailto:a@b.c"] {
            assert!(!super::is_valid_callback(bad), "{bad}");
        }
    }

    #[test]
    fn forbidden_schemes_are_refused_in_any_case() {
        for bad in [
            "javascript://c.example/%0Aalert(1)",
            "JavaScript://c.example/x",
            "JAVASCRIPT://x",
            "data://text/html,<script>alert(1)</script>",
            "DATA://x/y",
            "data:text/html,x",
            "vbscript://c.example/msgbox",
            "VBScript://x",
            "file:///etc/passwd",
            "FILE:///C:/x",
            "file://host/share",
        ] {
            assert!(!super::is_valid_callback(bad), "{bad}");
        }
    }
}
