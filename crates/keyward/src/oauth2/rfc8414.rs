//! RFC 8414, OAuth 2.0 Authorization Server Metadata, which OpenID Connect Discovery 1.0
//! §3 extends; one type serves both.

use super::OAuth2Error;
use super::error::json_object;
use serde::{Deserialize, Serialize};

/// The well-known suffix of RFC 8414 §3.
pub const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// The well-known suffix of OpenID Connect Discovery §4.
pub const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// Server metadata (RFC 8414 §2, OpenID Connect Discovery §3, RFC 8628 §4, RFC 9207 §3,
/// RFC 9126 §5, RFC 9449 §5.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The JWK set of the server's signing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// OpenID Connect's userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// RFC 8628 device authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// OpenID Connect RP-initiated logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// Scopes supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// Response types supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types_supported: Option<Vec<String>>,
    /// Grant types supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// Token-endpoint client authentication methods supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// PKCE methods supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Algs the server signs ID tokens with (OpenID Connect Discovery §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// RFC 9207 §3: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 9126 §5: the pushed authorization request endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// RFC 9126 §5: authorization requests are accepted only through PAR.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.1: the algs the server accepts DPoP proofs signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The issuer a metadata URL stands for, when it is a well-known URL: OpenID Connect
/// Discovery §4 appends the suffix to the issuer; RFC 8414 §3.1 inserts it between host
/// and path. `None` for any other URL (its document's issuer is then not checked against
/// the URL).
pub fn issuer_of_metadata_url(url: &str) -> Option<String> {
    if let Some(issuer) = url.strip_suffix(OIDC_WELL_KNOWN) {
        return Some(issuer.to_owned());
    }
    if let Some(i) = url.find(OAUTH_WELL_KNOWN) {
        let (origin, rest) = url.split_at(i);
        let path = &rest[OAUTH_WELL_KNOWN.len()..];
        if !origin[origin.find("://").map_or(0, |p| p + 3)..].contains('/') {
            return Some(format!("{origin}{path}"));
        }
    }
    None
}

/// Whether a document's `issuer` is the expected one (RFC 8414 §3.3: identical).
///
/// With `template` (e.g. Microsoft's `{tenantid}`), the part of `issuer` that is the
/// template matches any one non-empty path segment of `expected` (the multi-tenant
/// endpoint `…/common/v2.0` serves a document whose issuer is `…/{tenantid}/v2.0`).
pub fn issuer_matches(issuer: &str, expected: &str, template: Option<&str>) -> bool {
    if issuer == expected {
        return true;
    }
    let Some(t) = template.filter(|t| !t.is_empty()) else { return false };
    let Some((prefix, suffix)) = issuer.split_once(t) else { return false };
    expected.len() > prefix.len() + suffix.len()
        && expected.starts_with(prefix)
        && expected.ends_with(suffix)
        && !expected[prefix.len()..expected.len() - suffix.len()].contains('/')
}

/// Whether a document's `issuer` is the one its well-known URL stands for (`url_issuer`, as
/// [`issuer_of_metadata_url`] derives it): [`issuer_matches`], or the same with one
/// terminating `/`. OpenID Connect Discovery §4 and RFC 8414 §3.1 remove an issuer's
/// terminating `/` before the well-known suffix goes in, so the URL of the issuer
/// `https://tenant.example/` (Auth0's form) is `https://tenant.example/.well-known/…`, and
/// the URL alone cannot tell whether the issuer had the `/`.
pub fn issuer_matches_url(issuer: &str, url_issuer: &str, template: Option<&str>) -> bool {
    issuer_matches(issuer, url_issuer, template)
        || issuer.strip_suffix('/').is_some_and(|i| issuer_matches(i, url_issuer, template))
}

/// Reads a metadata document and checks its issuer (RFC 8414 §3.3, OpenID Connect
/// Discovery §4.3) against `expected_issuer` when given: the issuer a well-known URL stands
/// for, which the document's `issuer` may repeat with the terminating `/` that building the
/// URL removed ([`issuer_matches_url`]).
pub fn parse_metadata(
    response: &http::Response<Vec<u8>>,
    expected_issuer: Option<&str>,
    issuer_template: Option<&str>,
) -> Result<ServerMetadata, OAuth2Error> {
    let status = response.status().as_u16();
    let map = json_object(response)?;
    let meta: ServerMetadata = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| OAuth2Error::parse(status, response.body(), e.to_string()))?;
    if let Some(expected) = expected_issuer
        && !issuer_matches_url(&meta.issuer, expected, issuer_template)
    {
        return Err(OAuth2Error::IssuerMismatch { expected: expected.to_owned(), got: meta.issuer });
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_of_well_known_urls() {
        assert_eq!(
            issuer_of_metadata_url("https://a.example/tenant/.well-known/openid-configuration").as_deref(),
            Some("https://a.example/tenant")
        );
        assert_eq!(
            issuer_of_metadata_url("https://a.example/.well-known/oauth-authorization-server/t1").as_deref(),
            Some("https://a.example/t1")
        );
        assert_eq!(issuer_of_metadata_url("https://a.example/meta.json"), None);
    }

    #[test]
    fn templates_match_one_segment() {
        let doc = "https://login.example/{tenantid}/v2.0";
        assert!(issuer_matches(doc, "https://login.example/common/v2.0", Some("{tenantid}")));
        assert!(!issuer_matches(doc, "https://login.example/common/v2.0", None));
        assert!(!issuer_matches(doc, "https://login.example/a/b/v2.0", Some("{tenantid}")));
        assert!(!issuer_matches(doc, "https://evil.example/common/v2.0", Some("{tenantid}")));
    }

    #[test]
    fn parse_checks_issuer() {
        let r = http::Response::builder()
            .status(200)
            .body(br#"{"issuer":"https://a.example","token_endpoint":"https://a.example/t","x":1}"#.to_vec())
            .unwrap();
        let m = parse_metadata(&r, Some("https://a.example"), None).unwrap();
        assert_eq!(m.token_endpoint.as_deref(), Some("https://a.example/t"));
        assert!(!m.authorization_response_iss_parameter_supported);
        assert!(matches!(
            parse_metadata(&r, Some("https://b.example"), None),
            Err(OAuth2Error::IssuerMismatch { expected, got }) if expected == "https://b.example" && got == "https://a.example"
        ));
    }
}
