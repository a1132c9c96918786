//! OpenID Connect Discovery 1.0: the provider's configuration document (§4) and its
//! issuer check (§4.3).

use crate::oauth2::OAuth2Error;
use crate::oauth2::rfc8414::{ServerMetadata, issuer_of_metadata_url, parse_metadata};

/// The request for a configuration document.
pub fn discovery_request(url: &str) -> Result<http::Request<Vec<u8>>, OAuth2Error> {
    super::jwks::get_json(url)
}

/// Reads the document fetched from `url` and checks that its `issuer` is the one the URL
/// stands for (§4.3; for a non-well-known URL there is nothing to compare with). An issuer
/// template (Microsoft's `{tenantid}`) matches one path segment.
pub fn parse_discovery_response(
    response: &http::Response<Vec<u8>>,
    url: &str,
    issuer_template: Option<&str>,
) -> Result<ServerMetadata, OAuth2Error> {
    let expected = issuer_of_metadata_url(url);
    parse_metadata(response, expected.as_deref(), issuer_template)
}
