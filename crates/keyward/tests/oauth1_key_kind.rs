//! A signature method's key kind is declared (RFC 5849 §3.4), not read from its name: a
//! custom RSA method whose name does not start with `RSA-` is verified with the client's
//! RSA public key, and a custom shared-secret method named `RSA-…` with its secret.

use http::Method;
use keyward::common::clock::FixedClock;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::AuthorizationServer;
use keyward::oauth1::rfc5849::signature::rsa_private_key_from_pem;
use keyward::oauth1::rfc5849::store::Client;
use keyward::oauth1::rfc5849::{
    ClientCredentials, HmacSha1, KeyKind, RsaSha256, SignError, SignatureMethod, SignatureMethods, Signer,
    SigningKeys, SigningParams, VerifyError, VerifyKeys,
};
use keyward_stores::{MemoryStore, StoreAdmin};
use std::sync::Arc;

const NOW: i64 = 1_700_000_000;
const RSA_PRIVATE: &str = include_str!("../../../tests/peers/keys/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../../../tests/peers/keys/rsa_public.pem");

/// RSA-SHA256 under a name that says nothing of RSA.
struct Pkcs1Sha256;
impl SignatureMethod for Pkcs1Sha256 {
    fn name(&self) -> &str {
        "X-PKCS1-SHA256"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::RsaKeyPair
    }
    fn sign(&self, base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        RsaSha256.sign(base, keys)
    }
    fn verify(&self, base: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        RsaSha256.verify(base, signature, keys)
    }
}

/// HMAC-SHA1 under a name that starts like an RSA method's.
struct RsaLookalike;
impl SignatureMethod for RsaLookalike {
    fn name(&self) -> &str {
        "RSA-LOOKALIKE"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::SharedSecret
    }
    fn sign(&self, base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        HmacSha1.sign(base, keys)
    }
    fn verify(&self, base: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        HmacSha1.verify(base, signature, keys)
    }
}

async fn server() -> AuthorizationServer {
    let store = Arc::new(MemoryStore::new());
    let mut client = Client::new("client1", SecretString::new("secret1"));
    client.rsa_public_key = Some(RSA_PUBLIC.to_owned());
    store.put_client(&client).await.unwrap();
    store.purge_expired(NOW - 3600).await.unwrap(); // up for an hour (its replay epoch)
    let methods = SignatureMethods::empty().register(Pkcs1Sha256).register(RsaLookalike);
    AuthorizationServer::builder(store).clock(FixedClock::new(NOW)).signature_methods(methods).build()
}

fn temp_request(signer: &Signer, nonce: &str) -> http::Request<Vec<u8>> {
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1:8080/oauth/request_token")
        .body(Vec::new())
        .unwrap();
    let params = SigningParams { callback: Some("https://client.example/cb"), ..Default::default() };
    signer.sign_at(req, &params, &NOW.to_string(), nonce).unwrap()
}

#[tokio::test]
async fn a_custom_rsa_method_is_verified_with_the_public_key() {
    let server = server().await;
    let creds =
        ClientCredentials::new("client1", "").with_rsa_key(rsa_private_key_from_pem(RSA_PRIVATE).unwrap());
    let signer = Signer::new(creds).method(Pkcs1Sha256);
    let issued = server.issue_temporary_credential(&temp_request(&signer, "n1")).await;
    assert!(issued.is_ok(), "{:?}", issued.err());
}

#[tokio::test]
async fn a_custom_shared_secret_method_named_rsa_is_verified_with_the_secret() {
    let server = server().await;
    let signer = Signer::new(ClientCredentials::new("client1", "secret1")).method(RsaLookalike);
    let issued = server.issue_temporary_credential(&temp_request(&signer, "n2")).await;
    assert!(issued.is_ok(), "{:?}", issued.err());
    // The secret is what is checked.
    let wrong = Signer::new(ClientCredentials::new("client1", "not-it")).method(RsaLookalike);
    let refused = server.issue_temporary_credential(&temp_request(&wrong, "n3")).await.unwrap_err();
    assert_eq!(refused.code(), "invalid_signature", "{refused:?}");
}
