//! Signing outgoing requests, RFC 5849 §3.1 (making requests) and §3.5 (parameter
//! transmission).

use super::base_string::{base_string_uri, signature_base_string_from_params};
use super::error::{ParseError, SignError};
use super::names;
use super::params::{decode_err, is_form};
use super::signature::{HmacSha1, RsaPrivateKey, SignatureMethod, SignatureMethods, SigningKeys};
use super::signature_type::SignatureType;
use crate::common::encoding::{DecodeError, encode, parse_form};
use crate::common::secret::SecretString;
use crate::{Clock, RandomSource};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The length of the `oauth_nonce` values [`Signer::sign`] draws (alphanumeric, §3.3):
/// about 178 bits, and inside the 20–30 characters that `oauthlib`-based servers accept by
/// default.
pub const NONCE_LEN: usize = 30;

/// The client credentials of RFC 5849 §1.1: identifier, shared secret and, for the RSA
/// methods (§3.4.3), a private key.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The client identifier, sent as `oauth_consumer_key`.
    pub client_id: String,
    /// The client shared-secret (empty for RSA-only clients).
    pub client_secret: SecretString,
    /// The RSA private key for RSA-SHA1 / RSA-SHA256.
    pub rsa_private_key: Option<Arc<RsaPrivateKey>>,
}

impl ClientCredentials {
    /// Credentials with a shared secret (HMAC and PLAINTEXT methods, §3.4.2, §3.4.4).
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: SecretString::new(client_secret),
            rsa_private_key: None,
        }
    }

    /// Adds an RSA private key (RSA methods, §3.4.3).
    pub fn with_rsa_key(mut self, key: RsaPrivateKey) -> Self {
        self.rsa_private_key = Some(Arc::new(key));
        self
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("rsa_private_key", &self.rsa_private_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A token and its shared secret (RFC 5849 §1.1): temporary credentials (§2.1) or token
/// credentials (§2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCredentials {
    /// The token identifier, sent as `oauth_token`.
    pub token: String,
    /// The token shared-secret.
    pub token_secret: SecretString,
}

impl TokenCredentials {
    /// A token and its secret (§2.1, §2.3).
    pub fn new(token: impl Into<String>, token_secret: impl Into<String>) -> Self {
        Self { token: token.into(), token_secret: SecretString::new(token_secret) }
    }
}

/// The per-request protocol parameters of RFC 5849 §3.1, §2.1 and §2.3.
#[derive(Debug, Clone, Copy, Default)]
pub struct SigningParams<'a> {
    /// The token (temporary or token credentials), if the request carries one.
    pub token: Option<&'a TokenCredentials>,
    /// `oauth_callback` (§2.1), for temporary-credential requests.
    pub callback: Option<&'a str>,
    /// `oauth_verifier` (§2.3), for token requests.
    pub verifier: Option<&'a str>,
}

/// Signs outgoing requests for one client (RFC 5849 §3.1).
///
/// Defaults: HMAC-SHA1, Authorization header, `oauth_version="1.0"`, no realm, no body
/// hash. Each protocol parameter is placed exactly once, in one place; a request that
/// already carries `oauth_*` parameters is refused rather than signed twice.
#[derive(Clone)]
pub struct Signer {
    credentials: ClientCredentials,
    method: Arc<dyn SignatureMethod>,
    signature_type: SignatureType,
    realm: Option<String>,
    body_hash: bool,
    version: bool,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("credentials", &self.credentials)
            .field("method", &self.method.name())
            .field("signature_type", &self.signature_type)
            .field("realm", &self.realm)
            .field("body_hash", &self.body_hash)
            .field("version", &self.version)
            .finish()
    }
}

impl Signer {
    /// A signer for `credentials` with HMAC-SHA1 (§3.4.2) in the Authorization header (§3.5.1).
    pub fn new(credentials: ClientCredentials) -> Self {
        Self {
            credentials,
            method: Arc::new(HmacSha1),
            signature_type: SignatureType::Header,
            realm: None,
            body_hash: false,
            version: true,
        }
    }

    /// Signs with `method` (§3.4).
    pub fn method(mut self, method: impl SignatureMethod) -> Self {
        self.method = Arc::new(method);
        self
    }

    /// Signs with the method called `name` in `methods` (§3.4; e.g. `RSA-SHA1` from
    /// configuration).
    pub fn method_named(mut self, name: &str, methods: &SignatureMethods) -> Result<Self, SignError> {
        self.method = methods.get(name).map_err(|_| SignError::UnsupportedMethod(name.to_owned()))?.clone();
        Ok(self)
    }

    /// Places the protocol parameters in the header, query or form body (§3.5).
    pub fn signature_type(mut self, signature_type: SignatureType) -> Self {
        self.signature_type = signature_type;
        self
    }

    /// Sends `realm` in the Authorization header (§3.5.1); ignored for other types.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Adds `oauth_body_hash` (Request Body Hash extension) to requests whose body is not a
    /// form (§3.4.1.3.1 leaves such bodies unsigned).
    pub fn body_hash(mut self, on: bool) -> Self {
        self.body_hash = on;
        self
    }

    /// Whether to send `oauth_version="1.0"` (optional, §3.1; on by default).
    pub fn include_version(mut self, on: bool) -> Self {
        self.version = on;
        self
    }

    /// The client credentials (§1.1).
    pub fn credentials(&self) -> &ClientCredentials {
        &self.credentials
    }

    /// The signature method's name (`oauth_signature_method`, §3.1).
    pub fn method_name(&self) -> &str {
        self.method.name()
    }

    /// Signs `request` with a timestamp from `clock` and a fresh nonce from `random` (§3.3).
    pub fn sign(
        &self,
        request: http::Request<Vec<u8>>,
        params: &SigningParams<'_>,
        clock: &dyn Clock,
        random: &dyn RandomSource,
    ) -> Result<http::Request<Vec<u8>>, SignError> {
        let timestamp = clock.now().max(0).to_string();
        let nonce = random.alphanumeric(NONCE_LEN);
        self.sign_at(request, params, &timestamp, &nonce)
    }

    /// Signs `request` with the given timestamp and nonce (§3.1); for replaying vectors.
    pub fn sign_at(
        &self,
        request: http::Request<Vec<u8>>,
        params: &SigningParams<'_>,
        timestamp: &str,
        nonce: &str,
    ) -> Result<http::Request<Vec<u8>>, SignError> {
        let (mut parts, mut body) = request.into_parts();
        let base_uri = base_string_uri(&parts.uri)?;
        let mut form = is_form(&parts.headers);
        if self.signature_type == SignatureType::Body
            && matches!(parts.method, http::Method::GET | http::Method::HEAD)
        {
            // §3.5.2: only for methods whose entity-body has defined semantics.
            return Err(SignError::Placement("form-body parameters on a GET or HEAD request"));
        }
        if self.signature_type == SignatureType::Body && !form {
            if !body.is_empty() || parts.headers.contains_key(http::header::CONTENT_TYPE) {
                return Err(SignError::Placement("form-body parameters need an x-www-form-urlencoded body"));
            }
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            form = true;
        }

        let mut oauth: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(10);
        oauth.push((names::CONSUMER_KEY, Cow::Borrowed(&self.credentials.client_id)));
        if let Some(token) = params.token {
            oauth.push((names::TOKEN, Cow::Borrowed(&token.token)));
        }
        oauth.push((names::SIGNATURE_METHOD, Cow::Borrowed(self.method.name())));
        oauth.push((names::TIMESTAMP, Cow::Borrowed(timestamp)));
        oauth.push((names::NONCE, Cow::Borrowed(nonce)));
        if self.version {
            oauth.push((names::VERSION, Cow::Borrowed("1.0")));
        }
        if let Some(callback) = params.callback {
            oauth.push((names::CALLBACK, Cow::Borrowed(callback)));
        }
        if let Some(verifier) = params.verifier {
            oauth.push((names::VERIFIER, Cow::Borrowed(verifier)));
        }
        if self.body_hash && !form {
            oauth.push((names::BODY_HASH, Cow::Owned(self.method.hash_body(&body))));
        }

        let base = {
            let mut all: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(16);
            if let Some(query) = parts.uri.query() {
                let pairs = parse_form(query).map_err(read_err("query"))?;
                all.extend(pairs.into_iter().map(|(k, v)| (Cow::Owned(k), Cow::Owned(v))));
            }
            if form && !body.is_empty() {
                let text = std::str::from_utf8(&body).map_err(|_| ParseError::NotUtf8("body"))?;
                let pairs = parse_form(text).map_err(read_err("body"))?;
                all.extend(pairs.into_iter().map(|(k, v)| (Cow::Owned(k), Cow::Owned(v))));
            }
            if all.iter().any(|(k, _)| k.starts_with("oauth_")) {
                return Err(SignError::Placement("the request already carries OAuth parameters"));
            }
            all.extend(oauth.iter().map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(v.as_ref()))));
            signature_base_string_from_params(&parts.method, &base_uri, &all)
        };

        let keys = SigningKeys {
            client_secret: self.credentials.client_secret.secret(),
            token_secret: params.token.map(|t| t.token_secret.secret()).unwrap_or(""),
            rsa_private_key: self.credentials.rsa_private_key.as_deref(),
        };
        let signature = self.method.sign(&base, &keys)?;
        oauth.push((names::SIGNATURE, Cow::Owned(signature)));
        self.place(&mut parts, &mut body, &oauth)?;
        Ok(http::Request::from_parts(parts, body))
    }

    /// Puts the protocol parameters, signature included, where they travel (§3.5).
    fn place(
        &self,
        parts: &mut http::request::Parts,
        body: &mut Vec<u8>,
        oauth: &[(&str, Cow<'_, str>)],
    ) -> Result<(), SignError> {
        match self.signature_type {
            SignatureType::Header => {
                let value = authorization_header(self.realm.as_deref(), oauth);
                let value = http::HeaderValue::try_from(value).map_err(|_| {
                    SignError::Placement("the Authorization header is not a valid header value")
                })?;
                parts.headers.insert(http::header::AUTHORIZATION, value);
            }
            SignatureType::Query => {
                let mut pq = parts.uri.path().to_owned();
                pq.push('?');
                if let Some(q) = parts.uri.query().filter(|q| !q.is_empty()) {
                    pq.push_str(q);
                    pq.push('&');
                }
                pq.push_str(&encode_pairs(oauth));
                let mut uri = http::uri::Parts::from(std::mem::take(&mut parts.uri));
                uri.path_and_query = Some(
                    pq.parse().map_err(|_| SignError::Placement("the signed query is not a valid URI"))?,
                );
                parts.uri = http::Uri::from_parts(uri)
                    .map_err(|_| SignError::Placement("the signed query is not a valid URI"))?;
            }
            SignatureType::Body => {
                if !body.is_empty() {
                    body.push(b'&');
                }
                body.extend_from_slice(encode_pairs(oauth).as_bytes());
            }
        }
        Ok(())
    }
}

fn read_err(place: &'static str) -> impl Fn(DecodeError) -> SignError {
    let to_parse_error = decode_err(place);
    move |e| to_parse_error(e).into()
}

fn encode_pairs<V: AsRef<str>>(pairs: &[(&str, V)]) -> String {
    crate::common::encoding::encode_form(pairs.iter().map(|(k, v)| (*k, v.as_ref())))
}

/// Formats the `Authorization` header value of RFC 5849 §3.5.1:
/// `OAuth realm="…", name="encoded value", …`.
pub fn authorization_header<V: AsRef<str>>(realm: Option<&str>, params: &[(&str, V)]) -> String {
    let mut out = String::with_capacity(
        32 + realm.map_or(0, str::len) * 3
            + params.iter().map(|(k, v)| k.len() + v.as_ref().len() * 3 + 5).sum::<usize>(),
    );
    out.push_str("OAuth ");
    let mut first = true;
    let mut push = |name: &str, value: &str| {
        if !first {
            out.push_str(", ");
        }
        first = false;
        out.push_str(&encode(name));
        out.push_str("=\"");
        out.push_str(&encode(value));
        out.push('"');
    };
    if let Some(realm) = realm {
        push(names::REALM, realm);
    }
    for (name, value) in params {
        push(name, value.as_ref());
    }
    out
}
