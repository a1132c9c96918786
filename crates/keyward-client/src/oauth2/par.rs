//! Pushed authorization requests (RFC 9126) in the driver: when the provider's metadata
//! advertises a `pushed_authorization_request_endpoint` (unless the app's `use_par` is
//! `false`), when `use_par` is `true`, or when the metadata says
//! `require_pushed_authorization_requests`, the authorization request's parameters are
//! POSTed to that endpoint with client authentication, and the user is sent to the
//! authorization endpoint with only `client_id` and `request_uri`.

use super::{ClientError, OAuth2Client};
use keyward::oauth2::rfc6749::AuthorizationUrl;
use keyward::oauth2::rfc9126;

impl OAuth2Client {
    /// The PAR endpoint to push this app's authorization requests to, or `None` when PAR is
    /// off: the metadata advertises no endpoint, or `use_par` is `false` and the metadata
    /// does not require PAR. PAR asked for (`use_par` `true`) or required without an
    /// endpoint in the metadata (or without metadata) is a configuration error: the
    /// parameters are not sent in the clear instead.
    pub async fn par_endpoint(&self) -> Result<Option<String>, ClientError> {
        let asked = self.config.use_par == Some(true);
        if self.config.server_metadata_url.is_none() {
            return if asked {
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
        let on = match self.config.use_par {
            _ if meta.require_pushed_authorization_requests => true,
            Some(on) => on,
            // Unset: whenever the provider offers it, so that the request's parameters
            // travel authenticated over the back channel rather than in the browser.
            None => meta.pushed_authorization_request_endpoint.is_some(),
        };
        if !on {
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
