//! How the framework glue turns a server-side request into the absolute request the client
//! signed (RFC 5849 §3.4.1.2: the base string URI carries the scheme and host the client
//! used), and how much body it reads. Shared by every framework crate.

pub use super::checks::PeerAddr;
use super::error::{InvalidRequest, ProviderError};
use super::resource::ResourceProtector;
use super::server::AuthorizationServer;
use http::uri::Scheme;
use http::{HeaderMap, Uri, header};
use std::sync::Arc;

/// The default cap on a request body read by the glue: 64 KiB. OAuth requests are small; a
/// larger body is answered `400 invalid_request` (RFC 5849 §3.2).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// How the glue rebuilds the absolute URI the client signed (RFC 5849 §3.4.1.2) and how
/// much body it reads.
#[derive(Debug, Clone)]
pub struct RequestOptions {
    https: bool,
    trust_forwarded_proto: bool,
    body_limit: usize,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self { https: false, trust_forwarded_proto: false, body_limit: DEFAULT_BODY_LIMIT }
    }
}

impl RequestOptions {
    /// Whether the public URL is `https` (RFC 5849 §3.4.1.2 scheme; default `false`: plain
    /// http, which the provider only accepts on loopback addresses, §4.8).
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// Takes the scheme (RFC 5849 §3.4.1.2) from `X-Forwarded-Proto` when present. Only
    /// behind a proxy that sets it: a client could otherwise claim `https`.
    pub fn trust_forwarded_proto(mut self, trust: bool) -> Self {
        self.trust_forwarded_proto = trust;
        self
    }

    /// The largest body read, in bytes (default [`DEFAULT_BODY_LIMIT`]); form-body parameters
    /// (RFC 5849 §3.5.2) must fit.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The largest body read, in bytes (RFC 5849 §3.5.2 bodies included).
    pub fn max_body(&self) -> usize {
        self.body_limit
    }

    /// The base string URI source (RFC 5849 §3.4.1.2): the absolute URI of a request received as `uri` (usually origin-form) with
    /// `headers`: the scheme from the options (or a trusted `X-Forwarded-Proto`), the
    /// authority from the URI or else the `Host` header. No usable host is
    /// `400 invalid_request`.
    pub fn absolute_uri(&self, uri: &Uri, headers: &HeaderMap) -> Result<Uri, ProviderError> {
        self.into_absolute_uri(uri.clone(), headers)
    }

    /// [`absolute_uri`](Self::absolute_uri) taking the URI by value, so that its parts are
    /// moved rather than copied.
    pub fn into_absolute_uri(&self, uri: Uri, headers: &HeaderMap) -> Result<Uri, ProviderError> {
        let forwarded = self
            .trust_forwarded_proto
            .then(|| headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()))
            .flatten()
            .map(|v| v.split(',').next().unwrap_or("").trim());
        let https = match forwarded {
            Some(v) if v.eq_ignore_ascii_case("https") => true,
            Some(v) if v.eq_ignore_ascii_case("http") => false,
            _ => self.https,
        };
        let mut parts = uri.into_parts();
        parts.scheme = Some(if https { Scheme::HTTPS } else { Scheme::HTTP });
        if parts.authority.is_none() {
            let host = headers
                .get(header::HOST)
                .and_then(|h| http::uri::Authority::try_from(h.as_bytes()).ok())
                .ok_or(InvalidRequest::RelativeUri)?;
            parts.authority = Some(host);
        }
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        Uri::from_parts(parts).map_err(|_| InvalidRequest::RelativeUri.into())
    }
}

/// What a framework crate holds: the authorization server (RFC 5849 §2), its resource
/// protector (§3) and the [`RequestOptions`] its requests are read with. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuth1Provider {
    server: AuthorizationServer,
    protector: ResourceProtector,
    options: Arc<RequestOptions>,
}

impl OAuth1Provider {
    /// A provider over `server` (RFC 5849 §2, §3) with default options.
    pub fn new(server: AuthorizationServer) -> Self {
        Self::with_options(server, RequestOptions::default())
    }

    /// A provider over `server` (RFC 5849 §2, §3) with `options`.
    pub fn with_options(server: AuthorizationServer, options: RequestOptions) -> Self {
        Self { protector: server.resource_protector(), server, options: Arc::new(options) }
    }

    /// The authorization server (RFC 5849 §2).
    pub fn server(&self) -> &AuthorizationServer {
        &self.server
    }

    /// The resource protector (RFC 5849 §3).
    pub fn protector(&self) -> &ResourceProtector {
        &self.protector
    }

    /// The request options (RFC 5849 §3.4.1.2 URI, §3.5.2 body).
    pub fn options(&self) -> &RequestOptions {
        &self.options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
    }

    #[test]
    fn rebuilds_the_signed_uri() {
        let o = RequestOptions::default();
        let h = headers(&[("host", "127.0.0.1:8080")]);
        assert_eq!(o.absolute_uri(&"/a?b=c".parse().unwrap(), &h).unwrap(), "http://127.0.0.1:8080/a?b=c");
        let https = RequestOptions::default().https(true);
        assert_eq!(https.absolute_uri(&"/a".parse().unwrap(), &h).unwrap(), "https://127.0.0.1:8080/a");
        // The URI's own authority wins over Host (HTTP/2, absolute-form).
        let abs: Uri = "http://api.example.com/x".parse().unwrap();
        assert_eq!(o.absolute_uri(&abs, &h).unwrap(), "http://api.example.com/x");
        // X-Forwarded-Proto only when trusted.
        let fwd = headers(&[("host", "api.example.com"), ("x-forwarded-proto", "https, http")]);
        assert_eq!(o.absolute_uri(&"/x".parse().unwrap(), &fwd).unwrap(), "http://api.example.com/x");
        let trusting = RequestOptions::default().trust_forwarded_proto(true);
        assert_eq!(trusting.absolute_uri(&"/x".parse().unwrap(), &fwd).unwrap(), "https://api.example.com/x");
        // No host, or a bad one.
        for h in [headers(&[]), headers(&[("host", "a b")]), headers(&[("host", "")])] {
            let e = o.absolute_uri(&"/x".parse().unwrap(), &h).unwrap_err();
            assert_eq!(e.code(), "invalid_request");
        }
        assert_eq!(RequestOptions::default().body_limit(10).max_body(), 10);
    }
}
