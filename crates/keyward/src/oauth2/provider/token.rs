//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6; RFC 7636 §4.6; RFC 8707 §2.2;
//! RFC 9700 §4.14): the `authorization_code`, `refresh_token` and `client_credentials`
//! grants.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client::{AccessTokenFormat, ClientKind, GrantType, RegisteredClient};
use super::config::RefreshRotation;
use super::error::ProviderError;
use super::server::{
    AccessTokenClaims, AuthorizationServer, Form, check_resources, hash_token, json_ok, parse_scope,
    read_post_form,
};
use super::store::{AuthSession, RotateRefresh, TakeCode, TokenKind, TokenRecord};
use crate::common::secret::ct_eq;

/// What a grant issues tokens for.
struct Issue<'a> {
    client: &'a RegisteredClient,
    subject: Option<String>,
    scopes: Vec<String>,
    resources: Vec<String>,
    family_id: String,
    auth_time: Option<i64>,
    session: Option<AuthSession>,
}

/// Issued tokens: their records and the raw values for the response.
struct Issued {
    access: TokenRecord,
    access_value: String,
    refresh: Option<(TokenRecord, String)>,
    /// The OpenID Connect ID token, when the grant has one.
    id_token: Option<String>,
}

impl AuthorizationServer {
    /// The token endpoint (RFC 6749 §3.2): authenticates the client, runs the grant, and
    /// answers with the token response (§5.1) or an error (§5.2), always with
    /// `Cache-Control: no-store`. Never a 5xx for bad input: a malformed body is
    /// `400 invalid_request`.
    pub async fn token(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.token_inner(request).await {
            Ok(response) => response,
            Err(e) => e.to_response(),
        }
    }

    async fn token_inner(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let form = read_post_form(request, self.inner.config.max_body)?;
        let client = self.authenticate_client(request, &form).await?;
        let grant_type =
            form.get("grant_type").ok_or(ProviderError::InvalidRequest("grant_type is missing"))?;
        let grant: GrantType = grant_type.parse().map_err(|_| ProviderError::UnsupportedGrantType)?;
        if grant == GrantType::DeviceCode && self.inner.device.is_none() {
            return Err(ProviderError::UnsupportedGrantType);
        }
        if !client.allows_grant(grant) {
            return Err(ProviderError::UnauthorizedClient);
        }
        match grant {
            GrantType::AuthorizationCode => self.authorization_code_grant(&client, &form).await,
            GrantType::RefreshToken => self.refresh_token_grant(&client, &form).await,
            GrantType::ClientCredentials => self.client_credentials_grant(&client, &form).await,
            GrantType::DeviceCode => self.device_code_grant(&client, &form).await,
        }
    }

    /// `authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6): the code is taken once; it
    /// must have been issued to this client, with this `redirect_uri`, and the verifier must
    /// hash to its challenge. A second use revokes every token issued from the code
    /// (§4.1.2).
    async fn authorization_code_grant(
        &self,
        client: &RegisteredClient,
        form: &Form,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let code = form.get("code").ok_or(ProviderError::InvalidRequest("code is missing"))?;
        let now = self.now();
        let record = match self.inner.store.take_code(&hash_token(code), now).await? {
            TakeCode::Fresh(record) => record,
            TakeCode::Used { family_id, .. } => {
                self.inner.store.revoke_family(&family_id).await?;
                return Err(ProviderError::InvalidGrant("the code was already used"));
            }
            TakeCode::Unknown => return Err(ProviderError::InvalidGrant("unknown or expired code")),
        };
        if record.client_id != client.client_id {
            return Err(ProviderError::InvalidGrant("the code was issued to another client"));
        }
        match (&record.redirect_uri, form.get("redirect_uri")) {
            (Some(issued), Some(given)) if issued == given => {}
            (None, None) => {}
            (None, Some(given)) if client.redirect_uri_matches(given) => {}
            _ => {
                return Err(ProviderError::InvalidGrant(
                    "redirect_uri does not match the authorization request",
                ));
            }
        }
        match (&record.code_challenge, form.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                if !is_verifier(verifier) || !ct_eq(s256(verifier).as_bytes(), challenge.as_bytes()) {
                    return Err(ProviderError::InvalidGrant("code_verifier does not match the challenge"));
                }
            }
            (Some(_), None) => return Err(ProviderError::InvalidGrant("code_verifier is missing")),
            // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
            (None, Some(_)) => return Err(ProviderError::InvalidGrant("no code_challenge was sent")),
            (None, None) => {}
        }
        let resources = narrow_resources(form, &record.resources)?;
        let refresh_resources = record.resources.clone();
        let issue = Issue {
            client,
            subject: Some(record.subject),
            scopes: record.scopes,
            resources,
            family_id: record.family_id,
            auth_time: record.auth_time,
            session: record.session,
        };
        let with_refresh =
            self.inner.config.issue_refresh_tokens && client.allows_grant(GrantType::RefreshToken);
        let mut issued = self.issue(&issue, with_refresh, refresh_resources, now)?;
        issued.id_token = self
            .id_token_for(client, &issued.access, &issued.access_value, record.nonce.as_deref(), now)
            .await?;
        self.inner.store.create_tokens(&issued.access, issued.refresh.as_ref().map(|(r, _)| r)).await?;
        Ok(token_response(&issued, now))
    }

    /// `refresh_token` (RFC 6749 §6, RFC 9700 §4.14.2): the token must be this client's,
    /// `scope` may only narrow, `resource` may only narrow; the refresh token rotates (always,
    /// or for public clients only, per
    /// [`ServerConfig::refresh_rotation`](super::config::ServerConfig::refresh_rotation)). A
    /// rotated-out token that comes back revokes its whole family; of two concurrent
    /// refreshes with one token, exactly one succeeds.
    async fn refresh_token_grant(
        &self,
        client: &RegisteredClient,
        form: &Form,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let value =
            form.get("refresh_token").ok_or(ProviderError::InvalidRequest("refresh_token is missing"))?;
        let hash = hash_token(value);
        let now = self.now();
        let Some(old) = self.inner.store.get_token(&hash, now).await? else {
            // Revoked, rotated out, expired or unknown. A revoked record never becomes
            // active again, so this rotation cannot succeed; it tells reuse apart. The
            // placeholder it carries is inert (revoked, expired) should it be stored.
            let inert = TokenRecord {
                token_hash: hash_token(&self.random_value()),
                kind: TokenKind::Access,
                client_id: client.client_id.clone(),
                subject: None,
                scopes: Vec::new(),
                resources: Vec::new(),
                family_id: String::new(),
                issued_at: now,
                expires_at: now,
                auth_time: None,
                revoked: true,
                session: None,
                jkt: None,
            };
            if let RotateRefresh::Reused { family_id } =
                self.inner.store.rotate_refresh(&hash, &inert, None, now).await?
            {
                self.inner.store.revoke_family(&family_id).await?;
                return Err(ProviderError::InvalidGrant("the refresh token was already used"));
            }
            return Err(ProviderError::InvalidGrant("unknown, expired or revoked refresh token"));
        };
        if old.kind != TokenKind::Refresh || old.client_id != client.client_id {
            return Err(ProviderError::InvalidGrant("unknown, expired or revoked refresh token"));
        }
        let scopes = match form.get("scope") {
            Some(s) => {
                let asked = parse_scope(Some(s))?;
                if !asked.iter().all(|s| old.scopes.contains(s)) {
                    return Err(ProviderError::InvalidScope);
                }
                asked
            }
            None => old.scopes.clone(),
        };
        let resources = narrow_resources(form, &old.resources)?;
        let rotate = match self.inner.config.refresh_rotation {
            RefreshRotation::Always => true,
            RefreshRotation::PublicClientsOnly => client.kind == ClientKind::Public,
        };
        let issue = Issue {
            client,
            subject: old.subject.clone(),
            scopes,
            resources,
            family_id: old.family_id.clone(),
            auth_time: old.auth_time,
            session: old.session.clone(),
        };
        let mut issued = self.issue(&issue, rotate, old.resources.clone(), now)?;
        // OpenID Connect Core §12.2: the same `sub` and `auth_time`, no `nonce`.
        issued.id_token = self.id_token_for(client, &issued.access, &issued.access_value, None, now).await?;
        if let Some((refresh, _)) = &mut issued.refresh {
            // The new refresh token carries the grant's scope, not the narrowed one (§6).
            refresh.scopes = old.scopes.clone();
        }
        match self
            .inner
            .store
            .rotate_refresh(&hash, &issued.access, issued.refresh.as_ref().map(|(r, _)| r), now)
            .await?
        {
            RotateRefresh::Rotated(_) => Ok(token_response(&issued, now)),
            RotateRefresh::Reused { family_id } => {
                self.inner.store.revoke_family(&family_id).await?;
                Err(ProviderError::InvalidGrant("the refresh token was already used"))
            }
            RotateRefresh::Unknown => {
                Err(ProviderError::InvalidGrant("unknown, expired or revoked refresh token"))
            }
        }
    }

    /// `client_credentials` (RFC 6749 §4.4): confidential clients only; the scope defaults
    /// to every scope the client may ask for; no refresh token (§4.4.3).
    async fn client_credentials_grant(
        &self,
        client: &RegisteredClient,
        form: &Form,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        if client.kind != ClientKind::Confidential {
            return Err(ProviderError::UnauthorizedClient);
        }
        let scopes = match form.get("scope") {
            Some(s) => {
                let asked = parse_scope(Some(s))?;
                if !asked.iter().all(|s| client.scopes.contains(s)) {
                    return Err(ProviderError::InvalidScope);
                }
                asked
            }
            None => client.scopes.clone(),
        };
        let resources = form.all("resource");
        check_resources(&resources, &client.resources)?;
        let now = self.now();
        let issue = Issue {
            client,
            subject: None,
            scopes,
            resources,
            family_id: self.random_value(),
            auth_time: None,
            session: None,
        };
        let issued = self.issue(&issue, false, Vec::new(), now)?;
        self.inner.store.create_tokens(&issued.access, None).await?;
        Ok(token_response(&issued, now))
    }

    /// Issues and stores the tokens of a grant that carries no family of its own (the device
    /// grant, RFC 8628 §3.5): a new family, the server's default audience, and a refresh token
    /// when the server issues them and the client may use the `refresh_token` grant.
    pub(super) async fn issue_for_grant(
        &self,
        client: &RegisteredClient,
        subject: Option<String>,
        scopes: Vec<String>,
        auth_time: Option<i64>,
        now: i64,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let issue = Issue {
            client,
            subject,
            scopes,
            resources: Vec::new(),
            family_id: self.random_value(),
            auth_time,
            session: None,
        };
        let with_refresh =
            self.inner.config.issue_refresh_tokens && client.allows_grant(GrantType::RefreshToken);
        let mut issued = self.issue(&issue, with_refresh, Vec::new(), now)?;
        // An OpenID Provider answers `openid` with an ID token here too, as on refresh.
        issued.id_token = self.id_token_for(client, &issued.access, &issued.access_value, None, now).await?;
        self.inner.store.create_tokens(&issued.access, issued.refresh.as_ref().map(|(r, _)| r)).await?;
        Ok(token_response(&issued, now))
    }

    /// Makes an access token (opaque or JWT) and, with `with_refresh`, a refresh token
    /// whose resources are `refresh_resources`.
    fn issue(
        &self,
        issue: &Issue<'_>,
        with_refresh: bool,
        refresh_resources: Vec<String>,
        now: i64,
    ) -> Result<Issued, ProviderError> {
        let config = &self.inner.config;
        let expires_at = now + config.access_token_ttl;
        let access_value = match self.token_format(issue.client) {
            AccessTokenFormat::Opaque => self.random_value(),
            AccessTokenFormat::Jwt => {
                let jwt = self
                    .inner
                    .jwt
                    .as_ref()
                    .ok_or(ProviderError::Misconfigured("no JWT access-token signer"))?;
                let audience = if issue.resources.is_empty() {
                    vec![config.issuer.clone()]
                } else {
                    issue.resources.clone()
                };
                jwt.sign(&AccessTokenClaims {
                    issuer: config.issuer.clone(),
                    subject: issue.subject.clone().or_else(|| Some(issue.client.client_id.clone())),
                    client_id: issue.client.client_id.clone(),
                    scopes: issue.scopes.clone(),
                    audience,
                    jti: self.random_value(),
                    issued_at: now,
                    expires_at,
                    auth_time: issue.auth_time,
                })?
            }
        };
        let access = TokenRecord {
            token_hash: hash_token(&access_value),
            kind: TokenKind::Access,
            client_id: issue.client.client_id.clone(),
            subject: issue.subject.clone(),
            scopes: issue.scopes.clone(),
            resources: issue.resources.clone(),
            family_id: issue.family_id.clone(),
            issued_at: now,
            expires_at,
            auth_time: issue.auth_time,
            revoked: false,
            session: issue.session.clone(),
            jkt: None,
        };
        let refresh = with_refresh.then(|| {
            let value = self.random_value();
            let record = TokenRecord {
                token_hash: hash_token(&value),
                kind: TokenKind::Refresh,
                resources: refresh_resources,
                expires_at: now + config.refresh_token_ttl,
                ..access.clone()
            };
            (record, value)
        });
        Ok(Issued { access, access_value, refresh, id_token: None })
    }
}

/// The `resource` values of a token request (RFC 8707 §2.2), each one the grant holds; none
/// given: all of the grant's.
fn narrow_resources(form: &Form, granted: &[String]) -> Result<Vec<String>, ProviderError> {
    let asked = form.all("resource");
    if asked.is_empty() {
        return Ok(granted.to_vec());
    }
    check_resources(&asked, granted)?;
    Ok(asked)
}

/// The token response (RFC 6749 §5.1).
fn token_response(issued: &Issued, now: i64) -> http::Response<Vec<u8>> {
    let mut body = json!({
        "access_token": issued.access_value,
        "token_type": "Bearer",
        "expires_in": issued.access.expires_at - now,
        "scope": issued.access.scopes.join(" "),
    });
    if let Some((_, refresh)) = &issued.refresh {
        body["refresh_token"] = json!(refresh);
    }
    if let Some(id_token) = &issued.id_token {
        body["id_token"] = json!(id_token);
    }
    json_ok(&body)
}

/// Whether `v` is a well-formed `code_verifier` (RFC 7636 §4.1): 43 to 128 unreserved
/// characters.
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
