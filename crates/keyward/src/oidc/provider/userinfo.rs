//! The UserInfo endpoint (OpenID Connect Core §5.3): GET or POST, the access token as a
//! bearer token in the `Authorization` header (RFC 6750 §2.1) or, for POST, in the form
//! body (§2.2); the claims of the token's scopes (§5.4) and of the `claims` parameter's
//! `userinfo` member (§5.5) from the [`ClaimsSource`](super::ClaimsSource), with `sub` as
//! in the ID token. Errors are RFC 6750 §3's: `401` with `WWW-Authenticate: Bearer` (and
//! `error="invalid_token"` for a bad token), `403 insufficient_scope` for a token without
//! `openid`.

use http::header;

use super::claims::{ClaimsRequest, ClaimsTarget, asked_names, release};
use crate::oauth2::provider::server::{Form, hash_token, json_ok};
use crate::oauth2::provider::store::TokenKind;
use crate::oauth2::provider::{AuthorizationServer, BearerError, ProviderError};

/// The access token of a UserInfo request (Core §5.3.1; RFC 6750 §2.1, §2.2): from the
/// `Authorization: Bearer` header, or from the `access_token` of a POSTed form body of at
/// most `max_body` bytes; none is [`BearerError::Missing`], more than one (or two places)
/// [`BearerError::InvalidRequest`], a malformed one [`BearerError::InvalidToken`].
pub fn userinfo_token(request: &http::Request<Vec<u8>>, max_body: usize) -> Result<String, BearerError> {
    let mut found: Vec<String> = Vec::new();
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value =
            value.to_str().map_err(|_| BearerError::InvalidRequest("malformed Authorization header"))?;
        if let Some((scheme, token)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            let token = token.trim();
            if token.is_empty() || !token.bytes().all(is_b64token) {
                return Err(BearerError::InvalidToken);
            }
            found.push(token.to_owned());
        }
    }
    if request.method() == http::Method::POST && crate::oauth1::rfc5849::params::is_form(request.headers()) {
        if request.body().len() > max_body {
            return Err(BearerError::InvalidRequest("the body is too large"));
        }
        let text = std::str::from_utf8(request.body())
            .map_err(|_| BearerError::InvalidRequest("the body is not UTF-8"))?;
        let form = Form::parse_lenient(text).map_err(|_| BearerError::InvalidRequest("malformed body"))?;
        found.extend(form.all("access_token"));
    }
    match found.len() {
        0 => Err(BearerError::Missing),
        1 => Ok(found.remove(0)),
        _ => Err(BearerError::InvalidRequest("the token is sent more than once")),
    }
}

/// The `b64token` characters of RFC 6750 §2.1.
fn is_b64token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

impl AuthorizationServer {
    /// The UserInfo endpoint (Core §5.3): the claims of the user the access token stands
    /// for, as JSON with `Cache-Control: no-store`. The token is looked up in the store
    /// (opaque and JWT access tokens alike), so a revoked token is refused at once. A
    /// DPoP-bound token sent as a bearer token is refused (RFC 9449 §7.1).
    pub async fn userinfo(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.userinfo_inner(request).await {
            Ok(response) => response,
            Err(UserInfoFailure::Bearer(e)) => e.to_response(None),
            Err(UserInfoFailure::Provider(e)) => e.to_response(),
        }
    }

    async fn userinfo_inner(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, UserInfoFailure> {
        if request.method() != http::Method::GET && request.method() != http::Method::POST {
            return Err(ProviderError::MethodNotAllowed.into());
        }
        let openid = self
            .inner
            .openid
            .as_ref()
            .ok_or(ProviderError::Misconfigured("the server is no OpenID Provider"))?;
        let token = userinfo_token(request, self.inner.config.max_body)?;
        let now = self.now();
        let record = self
            .inner
            .store
            .get_token(&hash_token(&token), now)
            .await
            .map_err(|_| BearerError::Unavailable)?
            .filter(|r| r.kind == TokenKind::Access && r.jkt.is_none())
            .ok_or(BearerError::InvalidToken)?;
        if !record.scopes.iter().any(|s| s == "openid") {
            return Err(BearerError::InsufficientScope { required: vec!["openid".into()] }.into());
        }
        let subject = record.subject.as_deref().ok_or(BearerError::InvalidToken)?;
        let client = self
            .inner
            .store
            .get_registered_client(&record.client_id)
            .await
            .map_err(|_| BearerError::Unavailable)?
            .ok_or(BearerError::InvalidToken)?;
        let sub = self.subject_for(&client, subject)?;
        let asked = record.session.as_ref().and_then(|s| s.claims.as_ref());
        let (names, essential) = asked_names(&record.scopes, asked, ClaimsTarget::UserInfo);
        let mut claims = serde_json::Map::new();
        if !names.is_empty() {
            let request = ClaimsRequest {
                subject,
                client_id: &record.client_id,
                scopes: &record.scopes,
                names,
                essential,
                target: ClaimsTarget::UserInfo,
            };
            let given = openid.claims.claims(&request).await.map_err(ProviderError::from)?;
            claims = release(given, &request.names);
        }
        claims.insert("sub".into(), serde_json::Value::String(sub));
        Ok(json_ok(&serde_json::Value::Object(claims)))
    }
}

/// A UserInfo failure: an RFC 6750 error, or a server-side one.
enum UserInfoFailure {
    Bearer(BearerError),
    Provider(ProviderError),
}

impl From<BearerError> for UserInfoFailure {
    fn from(e: BearerError) -> Self {
        Self::Bearer(e)
    }
}

impl From<ProviderError> for UserInfoFailure {
    fn from(e: ProviderError) -> Self {
        Self::Provider(e)
    }
}
