//! What the framework glue holds for the OAuth 2 authorization server: the server, its
//! resource protector (RFC 6750) and how requests are read (the body cap, the absolute-URI
//! rules). Shared by every framework crate, as
//! [`OAuth1Provider`](crate::oauth1::rfc5849::provider::OAuth1Provider) is for OAuth 1.

use std::sync::Arc;

use http::{HeaderMap, Uri};

pub use crate::oauth1::rfc5849::provider::RequestOptions;

use super::error::ProviderError;
use super::resource::ResourceProtector;
use super::server::AuthorizationServer;

/// The authorization server, its resource protector and the [`RequestOptions`] its requests
/// are read with. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuth2Provider {
    server: AuthorizationServer,
    protector: ResourceProtector,
    options: Arc<RequestOptions>,
}

impl OAuth2Provider {
    /// A provider over `server`, reading bodies up to the server's
    /// [`max_body`](super::config::ServerConfig::max_body) and rebuilding URIs as plain
    /// `http` from the `Host` header ([`RequestOptions::default`] otherwise).
    pub fn new(server: AuthorizationServer) -> Self {
        let options = RequestOptions::default().body_limit(server.config().max_body);
        Self::with_options(server, options)
    }

    /// A provider over `server` with `options`.
    pub fn with_options(server: AuthorizationServer, options: RequestOptions) -> Self {
        Self { protector: server.resource_protector(), server, options: Arc::new(options) }
    }

    /// Replaces the resource protector (for example one with
    /// [`ResourceProtector::with_audience`], or over another [`TokenVerifier`](super::TokenVerifier)).
    pub fn with_protector(mut self, protector: ResourceProtector) -> Self {
        self.protector = protector;
        self
    }

    /// The authorization server.
    pub fn server(&self) -> &AuthorizationServer {
        &self.server
    }

    /// The resource protector (RFC 6750).
    pub fn protector(&self) -> &ResourceProtector {
        &self.protector
    }

    /// The request options.
    pub fn options(&self) -> &RequestOptions {
        &self.options
    }

    /// The absolute URI of a request received as `uri` with `headers` (the scheme from the
    /// options or a trusted `X-Forwarded-Proto`, the authority from the URI or the `Host`
    /// header); no usable host is `400 invalid_request`.
    pub fn absolute_uri(&self, uri: Uri, headers: &HeaderMap) -> Result<Uri, ProviderError> {
        self.options
            .into_absolute_uri(uri, headers)
            .map_err(|_| ProviderError::InvalidRequest("the request has no usable Host"))
    }
}
