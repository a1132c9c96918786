//! Signing a JWT access token (RFC 9068) through the server's key set (`KeySet::sign`:
//! header, claims, base64url and the signature) against aws-lc-rs's bare RS256 signature of
//! the same signing input with the same key, in the same run; with `jsonwebtoken::encode`
//! (which reads the private key at every signature) and ES256/EdDSA for comparison.
//!
//! And an OpenID Connect ID token (Core §2: `iss`, `sub`, `aud`, `exp`, `iat`, `auth_time`,
//! `nonce`, `at_hash`, `sid`) signed as the token endpoint signs it: the current key taken
//! from the OpenID Provider's key set (`OpenIdProvider::signing_key`, a snapshot of the
//! rotating `SharedKeySet`), then `SigningKey::sign`, against the bare aws-lc-rs signature of
//! the same signing input; ES256 and EdDSA through the same path.

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg, SigningKey};
use keyward::oauth2::rfc9068::{self, AccessTokenClaims};
use keyward::oidc::provider::{NoClaims, OpenIdConfig, OpenIdProvider};
use keyward_testkit::jose::key_path;
use serde_json::{Map, Value, json};
use std::hint::black_box;
use std::sync::Arc;

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://as.example.com".into(),
        sub: "user-1".into(),
        aud: "https://api.example.com".into(),
        client_id: "s6BhdRkqt3".into(),
        scope: Some("openid profile read".into()),
        jti: "b5a7c9e1-3f2d-4a6b-8c0e-1d2f3a4b5c6d".into(),
        exp: 1_700_000_300,
        iat: 1_700_000_000,
        auth_time: Some(1_699_999_990),
        extra: Map::new(),
    }
}

fn bench(c: &mut Criterion) {
    let pem = std::fs::read_to_string(key_path("oidc_op_a.pem")).expect("committed test key");
    let set = KeySet::new(SigningKey::from_pem(&pem, Some("key-a".into())).expect("key"));
    let claims = claims();
    let token = rfc9068::issue(&set, &claims).expect("sign");
    let signing_input = token.rsplit_once('.').expect("JWS").0.to_owned();

    let (_, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).expect("PEM");
    let bare = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).expect("key");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let jwt_key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key");
    let mut jwt_header = Header::new(Algorithm::RS256);
    jwt_header.typ = Some("at+jwt".into());
    jwt_header.kid = Some("key-a".into());

    let mut group = c.benchmark_group("access_token_rs256");
    group.bench_function("keyward_keyset_sign", |b| {
        b.iter(|| rfc9068::issue(&set, black_box(&claims)).expect("sign"))
    });
    group.bench_function("aws_lc_bare_sign", |b| {
        b.iter(|| {
            let mut sig = vec![0; bare.public_modulus_len()];
            bare.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                black_box(signing_input.as_bytes()),
                &mut sig,
            )
            .expect("sign");
            sig
        })
    });
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| jsonwebtoken::encode(&jwt_header, black_box(&claims), &jwt_key).expect("sign"))
    });
    group.finish();

    let mut group = c.benchmark_group("access_token_other_algs");
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let set = KeySet::new(SigningKey::generate(alg).expect("key"));
        group.bench_function(format!("keyward_keyset_sign_{}", alg.name()), |b| {
            b.iter(|| rfc9068::issue(&set, black_box(&claims)).expect("sign"))
        });
    }
    group.finish();
}

/// The claims of an ID token as the token endpoint builds them.
fn id_token_claims() -> Map<String, Value> {
    let v = json!({
        "iss": "https://op.example.com",
        "sub": "248289761001",
        "aud": ["s6BhdRkqt3"],
        "exp": 1_700_003_600,
        "iat": 1_700_000_000,
        "auth_time": 1_699_999_990,
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
    });
    v.as_object().expect("an object").clone()
}

fn bench_id_token(c: &mut Criterion) {
    let pem = std::fs::read_to_string(key_path("oidc_op_a.pem")).expect("committed test key");
    let key = SigningKey::from_pem(&pem, Some("key-a".into())).expect("key");
    let op = |key: SigningKey| {
        let keys = Arc::new(SharedKeySet::new(KeySet::new(key)));
        OpenIdProvider::new(OpenIdConfig::new("https://op.example.com"), keys, Arc::new(NoClaims))
    };
    let provider = op(key.clone());
    let claims = id_token_claims();
    let token = key.sign(None, &claims).expect("sign");
    let signing_input = token.rsplit_once('.').expect("JWS").0.to_owned();
    let (_, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).expect("PEM");
    let bare = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).expect("key");
    let rng = aws_lc_rs::rand::SystemRandom::new();

    let mut group = c.benchmark_group("id_token_rs256");
    group.bench_function("keyward_provider_sign", |b| {
        b.iter(|| {
            let key = provider.signing_key(SigningAlg::RS256).expect("an RS256 key");
            key.sign(None, black_box(&claims)).expect("sign")
        })
    });
    group.bench_function("aws_lc_bare_sign", |b| {
        b.iter(|| {
            let mut sig = vec![0; bare.public_modulus_len()];
            bare.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                black_box(signing_input.as_bytes()),
                &mut sig,
            )
            .expect("sign");
            sig
        })
    });
    group.finish();

    let mut group = c.benchmark_group("id_token_other_algs");
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let provider = op(SigningKey::generate(alg).expect("key"));
        group.bench_function(format!("keyward_provider_sign_{}", alg.name()), |b| {
            b.iter(|| {
                let key = provider.signing_key(alg).expect("a key");
                key.sign(None, black_box(&claims)).expect("sign")
            })
        });
    }
    group.finish();
}

#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench, bench_id_token
    }
}
criterion_main!(group::benches);
