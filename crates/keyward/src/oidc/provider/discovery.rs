//! The OpenID Provider's configuration document (OpenID Connect Discovery 1.0 §3, §4.2) and
//! its JWK set (RFC 7517 §5; Core §10.1.1), both generated from what the server does.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::request::{DISPLAY_VALUES, PROMPT_VALUES};
use crate::oauth2::provider::AuthorizationServer;
use crate::oauth2::provider::server::json_ok;
pub use crate::oauth2::rfc8414::OIDC_WELL_KNOWN;

impl AuthorizationServer {
    /// The configuration document (Discovery §3), served at [`OIDC_WELL_KNOWN`]: every
    /// member of [`metadata`](Self::metadata) (RFC 8414) plus `userinfo_endpoint`,
    /// `jwks_uri`, `subject_types_supported` (`pairwise` when a salt is configured),
    /// `id_token_signing_alg_values_supported` (the algorithms of the key sets' current keys,
    /// and `HS256`), `claims_supported`, `claims_parameter_supported`, the request-object
    /// flags (false), `prompt_values_supported`, `display_values_supported`,
    /// `acr_values_supported` when set, and `end_session_endpoint` / `registration_endpoint`
    /// when configured. `scopes_supported` holds `openid`. Without an
    /// [`OpenIdProvider`](super::OpenIdProvider) it is the RFC 8414 document.
    pub fn openid_configuration(&self) -> Value {
        let mut doc = serde_json::to_value(self.metadata()).unwrap_or_else(|_| json!({}));
        let Some(openid) = self.inner.openid.as_ref() else { return doc };
        let Value::Object(map) = &mut doc else { return doc };
        let config = &openid.config;
        let mut scopes: Vec<String> = self.inner.config.scopes_supported.clone();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        map.insert("scopes_supported".into(), json!(scopes));
        map.insert("userinfo_endpoint".into(), json!(config.userinfo_endpoint));
        map.insert("jwks_uri".into(), json!(config.jwks_uri));
        let subject_types: &[&str] =
            if config.pairwise_salt.is_some() { &["public", "pairwise"] } else { &["public"] };
        map.insert("subject_types_supported".into(), json!(subject_types));
        map.insert("id_token_signing_alg_values_supported".into(), json!(openid.id_token_signing_algs()));
        map.insert("claims_supported".into(), json!(config.claims_supported));
        map.insert("claims_parameter_supported".into(), json!(true));
        map.insert("request_parameter_supported".into(), json!(false));
        map.insert("request_uri_parameter_supported".into(), json!(false));
        map.insert("prompt_values_supported".into(), json!(PROMPT_VALUES));
        map.insert("display_values_supported".into(), json!(DISPLAY_VALUES));
        if !config.acr_values_supported.is_empty() {
            map.insert("acr_values_supported".into(), json!(config.acr_values_supported));
        }
        if let Some(endpoint) = &config.end_session_endpoint {
            map.insert("end_session_endpoint".into(), json!(endpoint));
        }
        super::backchannel::discovery_members(config, map);
        if let Some(endpoint) = &config.registration_endpoint {
            map.insert("registration_endpoint".into(), json!(endpoint));
        }
        doc
    }

    /// The configuration document as a `200` JSON response.
    pub fn openid_configuration_response(&self) -> http::Response<Vec<u8>> {
        json_ok(&self.openid_configuration())
    }

    /// The public JWK set at `now` (RFC 7517 §5): the published keys of every ID-token key
    /// set (next, current, and retired keys until their last token expires), public members
    /// only (`kty`, `kid`, `alg`, `use` and the key parameters), as
    /// `application/json` with `Cache-Control: public, max-age=…`
    /// ([`jwks_max_age`](super::OpenIdConfig::jwks_max_age)). A `404` without an
    /// [`OpenIdProvider`](super::OpenIdProvider).
    pub fn jwks_response(&self) -> http::Response<Vec<u8>> {
        let Some(openid) = self.inner.openid.as_ref() else {
            let mut response = http::Response::new(Vec::new());
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        };
        let now = self.now();
        let mut keys: Vec<Value> = Vec::new();
        for snapshot in openid.snapshots() {
            if let Value::Object(mut set) = snapshot.key_set().jwks(now)
                && let Some(Value::Array(some)) = set.remove("keys")
            {
                keys.extend(some);
            }
        }
        let body = serde_json::to_vec(&json!({ "keys": keys })).unwrap_or_default();
        let mut response = http::Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={}", openid.config.jwks_max_age)) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        response
    }
}
