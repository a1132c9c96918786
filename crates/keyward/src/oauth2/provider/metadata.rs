//! Authorization server metadata (RFC 8414 §2), generated from the configuration so that it
//! never disagrees with what the server does.

use super::authorize::ResponseMode;
use super::client::{ClientAuthMethod, GrantType};
use super::server::{AuthorizationServer, json_ok};
use crate::oauth2::rfc8414::ServerMetadata;

impl AuthorizationServer {
    /// The metadata document (RFC 8414 §2; RFC 9207 §3 `authorization_response_iss_parameter_supported`).
    pub fn metadata(&self) -> ServerMetadata {
        let config = &self.inner.config;
        let names = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        let auth_methods: Vec<&str> = ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect();
        let mut extra = serde_json::Map::new();
        let modes = [ResponseMode::Query, ResponseMode::FormPost].map(|m| match m {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        });
        extra.insert("response_modes_supported".into(), serde_json::json!(modes));
        let jwt_algs = ["HS256", "RS256", "PS256", "ES256", "EdDSA"];
        extra.insert("token_endpoint_auth_signing_alg_values_supported".into(), serde_json::json!(jwt_algs));
        let with_endpoint_methods = |extra: &mut serde_json::Map<String, serde_json::Value>, key: &str| {
            extra.insert(key.into(), serde_json::json!(auth_methods));
        };
        if config.revocation_endpoint.is_some() {
            with_endpoint_methods(&mut extra, "revocation_endpoint_auth_methods_supported");
        }
        if config.introspection_endpoint.is_some() {
            let confidential: Vec<&str> = auth_methods.iter().copied().filter(|m| *m != "none").collect();
            extra.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                serde_json::json!(confidential),
            );
        }
        self.registration_metadata(&mut extra);
        ServerMetadata {
            issuer: config.issuer.clone(),
            authorization_endpoint: Some(config.authorization_endpoint.clone()),
            token_endpoint: Some(config.token_endpoint.clone()),
            revocation_endpoint: config.revocation_endpoint.clone(),
            introspection_endpoint: config.introspection_endpoint.clone(),
            scopes_supported: (!config.scopes_supported.is_empty()).then(|| config.scopes_supported.clone()),
            response_types_supported: names(&["code"]),
            grant_types_supported: Some(
                [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials]
                    .iter()
                    .chain(self.inner.device.as_ref().map(|_| &GrantType::DeviceCode))
                    .map(|g| g.as_str().to_owned())
                    .collect(),
            ),
            device_authorization_endpoint: self.inner.device.as_ref().map(|d| d.config.endpoint.clone()),
            token_endpoint_auth_methods_supported: Some(
                auth_methods.iter().map(|s| (*s).to_owned()).collect(),
            ),
            code_challenge_methods_supported: names(&["S256"]),
            authorization_response_iss_parameter_supported: true,
            pushed_authorization_request_endpoint: self.par_config().map(|p| p.endpoint.clone()),
            require_pushed_authorization_requests: self.par_config().is_some_and(|p| p.required),
            dpop_signing_alg_values_supported: self
                .inner
                .dpop
                .as_ref()
                .map(|d| d.config().alg_names().into_iter().map(str::to_owned).collect()),
            extra,
            ..ServerMetadata::default()
        }
    }

    /// The metadata document as a `200` JSON response, for
    /// [`OAUTH_WELL_KNOWN`](crate::oauth2::rfc8414::OAUTH_WELL_KNOWN).
    pub fn metadata_response(&self) -> http::Response<Vec<u8>> {
        json_ok(&serde_json::to_value(self.metadata()).unwrap_or_default())
    }
}
