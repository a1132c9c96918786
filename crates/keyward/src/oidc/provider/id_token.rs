//! ID tokens (OpenID Connect Core §2, §3.1.3.3, §3.1.3.6, §12.2): what the token endpoint
//! adds to the response of a grant with `openid` in scope, and the check of an
//! `id_token_hint` (Core §3.1.2.1; RP-Initiated Logout 1.0 §2).
//!
//! An ID token carries `iss`, `sub` (pairwise for a pairwise client), `aud` (the client),
//! `exp`, `iat`, `auth_time` (when known; always when `max_age` was asked or the client
//! registered `require_auth_time`), `nonce` exactly as the request gave it (not on
//! refresh), `acr`, `amr`, `sid` when the application gave them, `at_hash`, `azp` when
//! there is more than one audience, and the claims of the `claims` parameter's `id_token`
//! member that the [`ClaimsSource`](super::ClaimsSource) gives.
//!
//! It is signed for the client's `id_token_signed_response_alg`: `RS256` by default,
//! `ES256` or `EdDSA` with the current key of the key set of that algorithm, `HS256` with
//! the client's secret when it is kept plain. Never `none`. A client whose algorithm the
//! server cannot sign with gets `server_error`. Every signature runs in aws-lc-rs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

use super::OpenIdProvider;
use super::claims::{ClaimsRequest, ClaimsTarget, asked_names, release};
use crate::common::secret::SecretString;
use crate::jose::{SigningAlg, SigningKey};
use crate::oauth2::provider::store::{AuthSession, TokenRecord};
use crate::oauth2::provider::{AuthorizationServer, ProviderError, RegisteredClient};
use crate::oidc::core::{left_half_hash, verify_signature};

/// What a verified `id_token_hint` says (Core §3.1.2.1; RP-Initiated Logout 1.0 §2): an ID
/// token this server issued, its signature checked with the server's keys (retired ones
/// included while they are kept) and its `iss` checked; its expiry is **not** checked, as
/// logout allows an expired hint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdTokenHint {
    /// `sub`, as the client saw it: pairwise for a pairwise client (compare it with
    /// [`AuthorizationServer::subject_for`]).
    pub subject: String,
    /// `aud`.
    pub audience: Vec<String>,
    /// The client the token was issued to: `azp`, else the only audience.
    pub client_id: Option<String>,
    /// `sid`, when the token has one.
    pub sid: Option<String>,
    /// `iat`.
    pub issued_at: Option<i64>,
    /// `exp`.
    pub expires_at: Option<i64>,
}

/// What an ID token is made of, besides the client and the server's configuration.
pub(crate) struct IdTokenInput<'a> {
    pub(crate) client: &'a RegisteredClient,
    /// The local subject.
    pub(crate) subject: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) session: Option<&'a AuthSession>,
    pub(crate) auth_time: Option<i64>,
    /// The request's nonce (code grant only).
    pub(crate) nonce: Option<&'a str>,
    /// The access token issued with the ID token, for `at_hash`.
    pub(crate) access_token: &'a str,
    pub(crate) now: i64,
}

/// Who signs a client's ID tokens.
enum Signer {
    Key(SigningKey),
    Hmac(SecretString),
}

impl Signer {
    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Key(k) => k.alg().algorithm(),
            Self::Hmac(_) => Algorithm::HS256,
        }
    }

    fn sign(&self, claims: &Map<String, Value>) -> Result<String, ProviderError> {
        let failed = |_| ProviderError::Misconfigured("the ID token could not be signed");
        match self {
            Self::Key(key) => key.sign(None, claims).map_err(failed),
            Self::Hmac(secret) => {
                let header = json!({ "alg": "HS256" });
                let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
                token.push('.');
                let payload = serde_json::to_vec(claims)
                    .map_err(|_| ProviderError::Misconfigured("the ID token could not be signed"))?;
                URL_SAFE_NO_PAD.encode_string(payload, &mut token);
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.secret().as_bytes());
                let tag = aws_lc_rs::hmac::sign(&key, token.as_bytes());
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut token);
                Ok(token)
            }
        }
    }
}

impl OpenIdProvider {
    /// The signer of `client`'s ID tokens at `now` (Registration §2
    /// `id_token_signed_response_alg`).
    fn signer(&self, client: &RegisteredClient, now: i64) -> Result<Signer, ProviderError> {
        let alg = match client.id_token_signed_response_alg.as_deref() {
            None | Some("RS256") => SigningAlg::RS256,
            Some("ES256") => SigningAlg::ES256,
            Some("EdDSA") => SigningAlg::EdDSA,
            Some("HS256") => {
                let secret =
                    client.secrets.iter().find_map(|s| s.plain_value(now)).ok_or(
                        ProviderError::Misconfigured("HS256 ID tokens need a client secret kept plain"),
                    )?;
                return Ok(Signer::Hmac(secret.clone()));
            }
            Some(_) => return Err(ProviderError::Misconfigured("unsupported id_token_signed_response_alg")),
        };
        self.signing_key(alg)
            .map(Signer::Key)
            .ok_or(ProviderError::Misconfigured("no signing key for the client's ID-token algorithm"))
    }
}

impl AuthorizationServer {
    /// The ID token of a grant (Core §3.1.3.3, §12.2), or `None` when the server is no
    /// OpenID Provider or the scope has no `openid`.
    pub(crate) async fn issue_id_token(
        &self,
        input: &IdTokenInput<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let Some(openid) = self.inner.openid.as_ref() else { return Ok(None) };
        if !input.scopes.iter().any(|s| s == "openid") {
            return Ok(None);
        }
        let signer = openid.signer(input.client, input.now)?;
        let alg = signer.algorithm();
        let client_id = input.client.client_id.as_str();
        let audience = [client_id];

        let mut claims = Map::new();
        let session = input.session;
        let asked = session.and_then(|s| s.claims.as_ref());
        let (names, essential) = asked_names(input.scopes, asked, ClaimsTarget::IdToken);
        if !names.is_empty() {
            let request = ClaimsRequest {
                subject: input.subject,
                client_id,
                scopes: input.scopes,
                names,
                essential,
                target: ClaimsTarget::IdToken,
            };
            claims = release(openid.claims.claims(&request).await?, &request.names);
        }
        claims.insert("iss".into(), json!(self.inner.config.issuer));
        claims.insert("sub".into(), json!(self.subject_for(input.client, input.subject)?));
        claims.insert("aud".into(), json!(client_id));
        if audience.len() > 1 {
            claims.insert("azp".into(), json!(client_id));
        }
        claims.insert("exp".into(), json!(input.now.saturating_add(openid.config.id_token_ttl)));
        claims.insert("iat".into(), json!(input.now));
        if let Some(auth_time) = input.auth_time {
            claims.insert("auth_time".into(), json!(auth_time));
        } else if session.is_some_and(|s| s.auth_time_required) {
            return Err(ProviderError::Misconfigured("auth_time is required but the grant has none"));
        }
        if let Some(nonce) = input.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        if let Some(session) = session {
            if let Some(acr) = &session.acr {
                claims.insert("acr".into(), json!(acr));
            }
            if !session.amr.is_empty() {
                claims.insert("amr".into(), json!(session.amr));
            }
            if let Some(sid) = &session.sid {
                claims.insert("sid".into(), json!(sid));
            }
        }
        claims.insert("at_hash".into(), json!(left_half_hash(alg, input.access_token)));
        signer.sign(&claims).map(Some)
    }

    /// The ID token issued with the access token `access` (whose value is `access_value`),
    /// for its subject, scopes, authentication time and session; `nonce` on the code grant.
    /// `None` for a token without a subject.
    pub(crate) async fn id_token_for(
        &self,
        client: &RegisteredClient,
        access: &TokenRecord,
        access_value: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<Option<String>, ProviderError> {
        let Some(subject) = access.subject.as_deref() else { return Ok(None) };
        self.issue_id_token(&IdTokenInput {
            client,
            subject,
            scopes: &access.scopes,
            session: access.session.as_ref(),
            auth_time: access.auth_time,
            nonce,
            access_token: access_value,
            now,
        })
        .await
    }

    /// Verifies an `id_token_hint` (Core §3.1.2.1; RP-Initiated Logout 1.0 §2): the
    /// signature with one of the server's keys (any key still kept in its key sets, retired
    /// ones included) and `iss`. Its expiry is not checked (logout accepts an expired hint).
    /// `None` when it does not verify, when the server is no OpenID Provider, or for an
    /// `HS256` token (keyed by a client secret, which this check does not look up).
    pub fn verify_id_token_hint(&self, hint: &str) -> Option<IdTokenHint> {
        let openid = self.inner.openid.as_ref()?;
        let header = jsonwebtoken::decode_header(hint).ok()?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) {
            return None;
        }
        let raw = openid.snapshots().iter().find_map(|snapshot| {
            let verifier = snapshot.verifier(i64::MIN);
            let key = verifier.select(header.kid.as_deref(), header.alg).ok()?;
            verify_signature(hint, key, header.alg).ok()
        })?;
        if raw.get("iss").and_then(Value::as_str) != Some(self.inner.config.issuer.as_str()) {
            return None;
        }
        let subject = raw.get("sub").and_then(Value::as_str)?.to_owned();
        let audience: Vec<String> = match raw.get("aud")? {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => return None,
        };
        let client_id = raw
            .get("azp")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| (audience.len() == 1).then(|| audience[0].clone()));
        Some(IdTokenHint {
            subject,
            audience,
            client_id,
            sid: raw.get("sid").and_then(Value::as_str).map(str::to_owned),
            issued_at: raw.get("iat").and_then(Value::as_i64),
            expires_at: raw.get("exp").and_then(Value::as_i64),
        })
    }
}
