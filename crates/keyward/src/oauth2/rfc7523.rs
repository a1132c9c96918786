//! RFC 7523, JWT Profile for OAuth 2.0 Client Authentication (§2.2, §3), as OpenID
//! Connect Core §9 names it: `client_secret_jwt` and `private_key_jwt`.

use super::rfc6749::{AuthContext, ClientAuthentication, TokenEndpointUse};
use super::{FormRequest, OAuth2Error};
use crate::common::secret::SecretString;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime of a client assertion, in seconds.
pub const ASSERTION_LIFETIME: i64 = 60;

/// The key a client assertion is signed with.
#[derive(Clone)]
pub struct AssertionKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl AssertionKey {
    /// `client_secret_jwt`: HMAC with the client secret (HS256 unless `alg` says HS384/HS512).
    pub fn client_secret(secret: &SecretString, alg: Option<Algorithm>) -> Result<Self, OAuth2Error> {
        let alg = alg.unwrap_or(Algorithm::HS256);
        if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(OAuth2Error::Config(format!("client_secret_jwt needs an HMAC alg, not {alg:?}")));
        }
        Ok(Self { key: EncodingKey::from_secret(secret.secret().as_bytes()), alg, kid: None })
    }

    /// `private_key_jwt`: an RSA private key in PEM (PKCS#1 or PKCS#8), RS256 unless `alg`
    /// names another RSA alg; `kid` goes in the JWS header when given.
    pub fn rsa_pem(
        pem: &SecretString,
        alg: Option<Algorithm>,
        kid: Option<String>,
    ) -> Result<Self, OAuth2Error> {
        let alg = alg.unwrap_or(Algorithm::RS256);
        if !matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) {
            return Err(OAuth2Error::Config(format!("an RSA key cannot sign {alg:?}")));
        }
        let key = EncodingKey::from_rsa_pem(pem.secret().trim().as_bytes())
            .map_err(|e| OAuth2Error::Config(format!("private key PEM: {e}")))?;
        // Read the key now (the signer would only at the first assertion), so that a bad key
        // is a configuration error rather than a failed request.
        aws_lc_rs::signature::RsaKeyPair::from_der(key.as_bytes())
            .map_err(|e| OAuth2Error::Config(format!("private key: {e}")))?;
        Ok(Self { key, alg, kid })
    }

    /// The signing algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
}

/// The claims of a client assertion (RFC 7523 §3).
#[derive(Debug, Clone, Serialize)]
pub struct AssertionClaims<'a> {
    /// The client id.
    pub iss: &'a str,
    /// The client id.
    pub sub: &'a str,
    /// The audience: the token endpoint URL (OpenID Connect Core §9).
    pub aud: &'a str,
    /// Issued at.
    pub iat: i64,
    /// Expiry: `iat` + [`ASSERTION_LIFETIME`].
    pub exp: i64,
    /// A unique id, so the server can refuse replays.
    pub jti: &'a str,
}

/// Signs a client assertion for `audience` (the token endpoint), RFC 7523 §3.
pub fn client_assertion(
    key: &AssertionKey,
    audience: &str,
    ctx: &AuthContext<'_>,
) -> Result<String, OAuth2Error> {
    let claims = AssertionClaims {
        iss: ctx.client_id,
        sub: ctx.client_id,
        aud: audience,
        iat: ctx.now,
        exp: ctx.now + ASSERTION_LIFETIME,
        jti: ctx.unique,
    };
    let mut header = Header::new(key.alg);
    header.kid = key.kid.clone();
    jsonwebtoken::encode(&header, &claims, &key.key).map_err(|e| OAuth2Error::Jwt(e.to_string()))
}

/// Authenticates a request with a client assertion (RFC 7523 §2.2): adds
/// `client_assertion_type` and `client_assertion`.
///
/// The assertion's `aud` is `ctx.token_endpoint` when known, else the request's URL: at any
/// endpoint (token, revocation, introspection, device authorization), OpenID Connect Core
/// §9 says the audience SHOULD be the token endpoint URL, and RFC 7523 §3 lets the token
/// endpoint URL identify the authorization server. The request's own URL fits a request to
/// the token endpoint itself, or a server whose token endpoint is unknown.
pub fn authenticate_with_jwt(
    request: &mut FormRequest,
    key: &AssertionKey,
    ctx: &AuthContext<'_>,
) -> Result<(), OAuth2Error> {
    let assertion = client_assertion(key, ctx.token_endpoint.unwrap_or(&request.url), ctx)?;
    request.set("client_assertion_type", CLIENT_ASSERTION_TYPE);
    request.set("client_assertion", assertion);
    Ok(())
}

/// `client_secret_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): a client assertion signed
/// with HS256 under the client secret of [`AuthContext::client_secret`], its `aud` as
/// [`authenticate_with_jwt`] says.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSecretJwt;

impl ClientAuthentication for ClientSecretJwt {
    fn authenticate(&self, request: &mut FormRequest, ctx: &AuthContext<'_>) -> Result<(), OAuth2Error> {
        let secret = ctx
            .client_secret
            .ok_or_else(|| OAuth2Error::Config("`client_secret_jwt` needs a client secret".into()))?;
        authenticate_with_jwt(request, &AssertionKey::client_secret(secret, None)?, ctx)
    }

    fn token_endpoint_use(&self) -> TokenEndpointUse {
        TokenEndpointUse::Required
    }
}

/// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): a client assertion signed
/// with the client's private key, its `aud` as [`authenticate_with_jwt`] says.
#[derive(Debug, Clone)]
pub struct PrivateKeyJwt {
    key: AssertionKey,
}

impl PrivateKeyJwt {
    /// Signs assertions with `key` (e.g. [`AssertionKey::rsa_pem`]).
    pub fn new(key: AssertionKey) -> Self {
        Self { key }
    }
}

impl ClientAuthentication for PrivateKeyJwt {
    fn authenticate(&self, request: &mut FormRequest, ctx: &AuthContext<'_>) -> Result<(), OAuth2Error> {
        authenticate_with_jwt(request, &self.key, ctx)
    }

    fn token_endpoint_use(&self) -> TokenEndpointUse {
        TokenEndpointUse::Required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The claims of an HS256 assertion, its signature checked (and its `aud`, when given);
    /// not its expiry, since the tests sign at a fixed time.
    fn claims(jwt: &str, secret: &SecretString, audience: Option<&str>) -> serde_json::Value {
        let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        match audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        let key = jsonwebtoken::DecodingKey::from_secret(secret.secret().as_bytes());
        jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v).unwrap().claims
    }

    fn ctx<'a>(secret: &'a SecretString, token_endpoint: Option<&'a str>) -> AuthContext<'a> {
        AuthContext {
            client_id: "cid",
            client_secret: Some(secret),
            now: 1000,
            unique: "jti-1",
            token_endpoint,
        }
    }

    #[test]
    fn client_secret_jwt_claims() {
        let secret = SecretString::new("0123456789abcdef0123456789abcdef");
        let key = AssertionKey::client_secret(&secret, None).unwrap();
        let ctx = ctx(&secret, None);
        let mut r = FormRequest::new("https://as.example/token").param("grant_type", "client_credentials");
        authenticate_with_jwt(&mut r, &key, &ctx).unwrap();
        assert_eq!(r.get("client_assertion_type"), Some(CLIENT_ASSERTION_TYPE));
        let c = claims(r.get("client_assertion").unwrap(), &secret, Some("https://as.example/token"));
        assert_eq!((c["iss"].as_str(), c["sub"].as_str()), (Some("cid"), Some("cid")));
        assert_eq!(
            (c["iat"].as_i64(), c["exp"].as_i64(), c["jti"].as_str()),
            (Some(1000), Some(1060), Some("jti-1"))
        );
        assert!(AssertionKey::client_secret(&secret, Some(Algorithm::RS256)).is_err());
        assert!(!format!("{key:?}").contains("0123"));
    }

    #[test]
    fn a_known_token_endpoint_is_the_audience_at_any_endpoint() {
        let secret = SecretString::new("0123456789abcdef0123456789abcdef");
        let key = AssertionKey::client_secret(&secret, None).unwrap();
        let ctx = ctx(&secret, Some("https://as.example/token"));
        let mut r = FormRequest::new("https://as.example/revoke").param("token", "t");
        authenticate_with_jwt(&mut r, &key, &ctx).unwrap();
        let claims = claims(r.get("client_assertion").unwrap(), &secret, None);
        assert_eq!(claims["aud"], "https://as.example/token");
        assert_eq!(r.url, "https://as.example/revoke", "the request still goes where it was going");
    }
}
