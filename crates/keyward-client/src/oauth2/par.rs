//! Pushed authorization requests (RFC 9126) in the driver: when the app's `use_par` is on,
//! or the provider's metadata says `require_pushed_authorization_requests`, the
//! authorization request's parameters are POSTed to the provider's
//! `pushed_authorization_request_endpoint` with client authentication, and the user is sent
//! to the authorization endpoint with only `client_id` and `request_uri`.

use super::{ClientError, OAuth2Client};
use keyward::oauth2::rfc6749::AuthorizationUrl;
use keyward::oauth2::rfc9126;

impl OAuth2Client {
    /// The PAR endpoint to push this app's authorization requests to, or `None` when PAR is
    /// off: `use_par` is off and the metadata does not require PAR. PAR on without an
    /// endpoint in the metadata (or without metadata) is a configuration error: the
    /// parameters are not sent in the clear instead.
    pub async fn par_endpoint(&self) -> Result<Option<String>, ClientError> {
        if self.config.server_metadata_url.is_none() {
            return if self.config.use_par {
                Err(ClientError::Config(
                    "use_par needs the provider's metadata (server_metadata_url) to find its \
                     pushed_authorization_request_endpoint"
                        .into(),
                ))
            } else {
                Ok(None)
            };
        }
        let meta = self.server_metadata().await?;
        if !self.config.use_par && !meta.require_pushed_authorization_requests {
            return Ok(None);
        }
        match &meta.pushed_authorization_request_endpoint {
            Some(url) => Ok(Some(url.clone())),
            None => Err(ClientError::Config(format!(
                "PAR is on, but the provider's metadata has no `{}`",
                rfc9126::PAR_ENDPOINT_METADATA
            ))),
        }
    }

    /// Pushes `authorization` to `par_endpoint` (RFC 9126 §2.1, with the token endpoint's
    /// client authentication) and returns the URL to send the user to (§4). A refusal or
    /// failure of the PAR endpoint is [`ClientError::PushedAuthorization`].
    pub(crate) async fn push_authorization(
        &self,
        par_endpoint: &str,
        authorization: &AuthorizationUrl,
    ) -> Result<String, ClientError> {
        let mut request = rfc9126::pushed_authorization_request(par_endpoint, authorization);
        self.authenticate(&mut request).await?;
        let response = self.http.call(request.into_http()?).await?;
        let pushed = rfc9126::parse_par_response(&response).map_err(ClientError::PushedAuthorization)?;
        Ok(rfc9126::authorization_url(authorization.endpoint(), &self.config.client_id, &pushed)?)
    }
}
