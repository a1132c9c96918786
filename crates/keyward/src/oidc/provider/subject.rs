//! Subject identifiers (OpenID Connect Core §8): public, or pairwise per sector (§8.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::oauth2::provider::{AuthorizationServer, ProviderError, RegisteredClient, SubjectType};

/// The sector identifier of a pairwise client (Core §8.1): the host of its
/// `sector_identifier_uri`, or else the host shared by all of its redirect URIs.
pub fn sector_identifier(client: &RegisteredClient) -> Result<String, ProviderError> {
    let host = |uri: &str| url::Url::parse(uri).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    if let Some(uri) = &client.sector_identifier_uri {
        return host(uri).ok_or(ProviderError::Misconfigured("the sector_identifier_uri has no host"));
    }
    let mut hosts = client.redirect_uris.iter().map(|u| host(u));
    let Some(Some(first)) = hosts.next() else {
        return Err(ProviderError::Misconfigured("a pairwise client without a redirect URI host"));
    };
    if hosts.any(|h| h.as_deref() != Some(first.as_str())) {
        return Err(ProviderError::Misconfigured(
            "a pairwise client whose redirect URIs have several hosts needs a sector_identifier_uri",
        ));
    }
    Ok(first)
}

/// The pairwise `sub` (Core §8.1): base64url of SHA-256 over the sector identifier, the local
/// subject and the salt, each followed by a NUL byte so that no two inputs run together.
pub fn pairwise_subject(sector: &str, subject: &str, salt: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [sector.as_bytes(), subject.as_bytes(), salt] {
        hash.update(part);
        hash.update([0]);
    }
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

impl AuthorizationServer {
    /// The `sub` that `client` sees for the local `subject` (Core §8): `subject` itself for a
    /// public client; for a pairwise one, [`pairwise_subject`] with the client's
    /// [`sector_identifier`] and the configured
    /// [`pairwise_salt`](super::OpenIdConfig::pairwise_salt). A pairwise client on a server
    /// without a salt (or without OpenID) is [`ProviderError::Misconfigured`].
    pub fn subject_for(&self, client: &RegisteredClient, subject: &str) -> Result<String, ProviderError> {
        match client.subject_type {
            SubjectType::Public => Ok(subject.to_owned()),
            SubjectType::Pairwise => {
                let salt = self
                    .inner
                    .openid
                    .as_ref()
                    .and_then(|o| o.config.pairwise_salt.as_ref())
                    .ok_or(ProviderError::Misconfigured("pairwise subjects need a pairwise salt"))?;
                Ok(pairwise_subject(&sector_identifier(client)?, subject, salt.secret().as_bytes()))
            }
        }
    }
}
