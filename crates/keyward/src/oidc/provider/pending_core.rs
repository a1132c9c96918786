//! Stand-ins for the OpenID Provider core's calls, until it lands.
#![allow(dead_code, missing_docs, unreachable_pub)]

use serde::Serialize;

use crate::oauth2::provider::client::RegisteredClient;
use crate::oauth2::provider::error::ProviderError;
use crate::oauth2::provider::server::AuthorizationServer;

pub struct IdTokenHint {
    pub subject: String,
    pub client_id: String,
    pub sid: Option<String>,
}

impl AuthorizationServer {
    pub(crate) fn verify_id_token_hint(&self, _token: &str) -> Option<IdTokenHint> {
        None
    }

    pub(crate) fn subject_for(&self, _client: &RegisteredClient, subject: &str) -> String {
        subject.to_owned()
    }

    pub(crate) fn sign_for_client<T: Serialize + ?Sized>(
        &self,
        _client: &RegisteredClient,
        _typ: Option<&str>,
        _claims: &T,
    ) -> Result<String, ProviderError> {
        Err(ProviderError::Misconfigured("no signer"))
    }
}
