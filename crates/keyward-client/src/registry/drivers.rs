//! From an app's configuration (Authlib's keys) to a driver: an [`OAuth1Client`] or an
//! [`OAuth2Config`]. The drivers know nothing of [`AppConfig`]; this is where the registry
//! translates it.

use super::config::{AppConfig, ConfigError, Params, Protocol};
use crate::oauth1::{Endpoints, OAuth1Client, OAuth1Error};
use crate::oauth2::OAuth2Config;
use keyward::common::http_client::HttpClient;
use keyward::oauth1::rfc5849::signature::rsa_private_key_from_pem;
use keyward::oauth1::rfc5849::{ClientCredentials, KeyKind, SignatureMethods, SignatureType, Signer};
use keyward::oauth2::rfc6749::ClientAuthMethod;
use keyward::oauth2::rfc7636::ChallengeMethod;
use std::sync::Arc;

impl AppConfig {
    /// The OAuth 1.0a client of the app `app` (RFC 5849 §2 endpoints; Authlib's keys):
    /// `client_id`, `client_secret`, `request_token_url`, `authorize_url`,
    /// `access_token_url`, their `*_params`, and `client_kwargs.signature_method` (default
    /// `HMAC-SHA1`), `signature_type` (`HEADER`, `QUERY`, `BODY`), `realm` and `rsa_key`
    /// (PEM). The method is looked up in `methods`, and its [`KeyKind`] says which key must
    /// be set: `client_secret` for a shared secret, `client_kwargs.rsa_key` for an RSA key
    /// pair. An endpoint that is not an absolute `http`/`https` URL is an invalid key.
    pub fn oauth1_client(
        &self,
        app: &str,
        methods: &SignatureMethods,
        http: Arc<dyn HttpClient>,
    ) -> Result<OAuth1Client, ConfigError> {
        let cfg = self;
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            app: app.to_owned(),
            key: key.to_owned(),
            reason,
        };
        if cfg.validate(app)? != Protocol::OAuth1 {
            return Err(invalid("request_token_url", "not set: the app is not an OAuth 1.0a app".to_owned()));
        }
        let missing =
            |key: &'static str| ConfigError::Missing { app: app.to_owned(), key, why: "OAuth 1 needs it" };
        let client_id = cfg.client_id.clone().ok_or_else(|| missing("client_id"))?;
        let secret = cfg.client_secret.as_ref().map(|s| s.secret().to_owned()).unwrap_or_default();
        let kwargs = &cfg.client_kwargs;
        let mut credentials = ClientCredentials::new(client_id, secret);
        if let Some(pem) = &kwargs.rsa_key {
            let key = rsa_private_key_from_pem(pem.secret())
                .map_err(|e| invalid("client_kwargs.rsa_key", e.to_string()))?;
            credentials = credentials.with_rsa_key(key);
        }
        let name = kwargs.signature_method.as_deref().unwrap_or("HMAC-SHA1");
        let method =
            methods.get(name).map_err(|e| invalid("client_kwargs.signature_method", e.to_string()))?;
        let (key, why, present) = match method.key_kind() {
            KeyKind::SharedSecret => {
                ("client_secret", "its signature method signs with it", cfg.client_secret.is_some())
            }
            KeyKind::RsaKeyPair => {
                ("client_kwargs.rsa_key", "its RSA signature method signs with it", kwargs.rsa_key.is_some())
            }
        };
        if !present {
            return Err(ConfigError::Missing { app: app.to_owned(), key, why });
        }
        let mut signer = Signer::new(credentials)
            .method_named(name, methods)
            .map_err(|e| invalid("client_kwargs.signature_method", e.to_string()))?;
        if let Some(t) = &kwargs.signature_type {
            let t: SignatureType = t.parse().map_err(|_| {
                invalid("client_kwargs.signature_type", format!("`{t}` is not HEADER, QUERY or BODY"))
            })?;
            signer = signer.signature_type(t);
        }
        if let Some(realm) = &kwargs.realm {
            signer = signer.realm(realm);
        }
        let url = |v: &Option<String>, key: &'static str| v.clone().ok_or_else(|| missing(key));
        let urls = [
            ("request_token_url", url(&cfg.request_token_url, "request_token_url")?),
            ("authorize_url", url(&cfg.authorize_url, "authorize_url")?),
            ("access_token_url", url(&cfg.access_token_url, "access_token_url")?),
        ];
        let endpoints = Endpoints::new(&urls[0].1, &urls[1].1, &urls[2].1).map_err(|e| {
            let key = match &e {
                OAuth1Error::Endpoint { url } => urls.iter().find(|(_, u)| u == url).map(|(k, _)| *k),
                _ => None,
            };
            invalid(key.unwrap_or("request_token_url"), e.to_string())
        })?;
        let pairs = |p: &Params| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
        Ok(OAuth1Client::new(signer, endpoints, http)
            .with_request_token_params(pairs(&cfg.request_token_params))
            .with_access_token_params(pairs(&cfg.access_token_params))
            .with_authorize_params(pairs(&cfg.authorize_params)))
    }

    /// The OAuth 2.0 / OpenID Connect driver configuration of the app `app` (Authlib's
    /// keys): `client_kwargs` gives scope, `token_endpoint_auth_method`, `token_placement`,
    /// `code_challenge_method`, `leeway`, and `rsa_key` for `private_key_jwt`; `use_par`,
    /// `dpop` and `dpop_key` (PEM, which turns DPoP on) pass through.
    pub fn oauth2_config(&self, app: &str) -> Result<OAuth2Config, ConfigError> {
        let cfg = self;
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            app: app.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let client_id =
            cfg.client_id.clone().filter(|c| !c.is_empty()).ok_or_else(|| ConfigError::Missing {
                app: app.to_owned(),
                key: "client_id",
                why: "every flow identifies the client",
            })?;
        let kw = &cfg.client_kwargs;
        let mut out = OAuth2Config::new(client_id);
        out.client_secret = cfg.client_secret.clone();
        out.authorize_url = cfg.authorize_url.clone();
        out.token_url = cfg.access_token_url.clone();
        out.refresh_token_url = cfg.refresh_token_url.clone();
        out.userinfo_url = cfg.userinfo_endpoint.clone();
        out.server_metadata_url = cfg.server_metadata_url.clone();
        out.jwks = cfg.jwks.clone();
        out.scope = kw.scope.clone();
        out.auth_method = kw.token_endpoint_auth_method.as_deref().map(|m| {
            let Ok(method) = m.parse::<ClientAuthMethod>();
            method
        });
        out.private_key = kw.rsa_key.clone();
        if let Some(p) = &kw.token_placement {
            out.token_placement = p.parse().map_err(|e: keyward::oauth2::OAuth2Error| {
                invalid("client_kwargs.token_placement", e.to_string())
            })?;
        }
        if let Some(m) = &kw.code_challenge_method {
            out.pkce = Some(
                ChallengeMethod::parse(m, false)
                    .map_err(|e| invalid("client_kwargs.code_challenge_method", e.to_string()))?,
            );
        }
        if let Some(l) = kw.leeway {
            out.leeway = l;
        }
        out.authorize_params = cfg.authorize_params.clone();
        out.access_token_params = cfg.access_token_params.clone();
        out.refresh_token_params = cfg.refresh_token_params.clone();
        out.quirks = cfg.quirks.clone();
        out.use_par = cfg.use_par;
        out.dpop = cfg.dpop || cfg.dpop_key.is_some();
        if let Some(pem) = &cfg.dpop_key {
            use keyward::oauth2::rfc9449::DpopKey;
            use keyward::oidc::Algorithm;
            let key = DpopKey::from_pkcs8_pem(pem, Algorithm::ES256)
                .or_else(|_| DpopKey::from_pkcs8_pem(pem, Algorithm::ES384))
                .map_err(|e| invalid("dpop_key", e.to_string()))?;
            out.dpop_key = Some(key);
        }
        Ok(out)
    }
}
