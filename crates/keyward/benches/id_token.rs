//! ID-token validation (RS256, OpenID Connect Core §3.1.3.7) against the bare signature
//! verification of `jsonwebtoken`, in the same run.

use criterion::{Criterion, criterion_group, criterion_main};
use keyward::oidc::Algorithm;
use keyward::oidc::core::{IdTokenCheck, IdTokenValidator, verify_signature};
use keyward::oidc::jwks::KeySet;
use keyward_testkit::jose::{TestSigner, jwks};
use serde_json::json;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let now = 1_700_000_000;
    let signer = TestSigner::load("oidc_op_a.pem", "key-a");
    let other = TestSigner::load("oidc_op_b.pem", "key-b");
    let token = signer.sign(&json!({
        "iss": "https://op.example", "sub": "user-1", "aud": "client-1", "iat": now - 5,
        "exp": now + 300, "nonce": "n-0S6_WzA2Mj", "email": "user@example.com"
    }));
    let keys = KeySet::from_value(&jwks(&[&signer, &other])).expect("JWK set");
    let validator = IdTokenValidator::new("https://op.example", "client-1");
    let check = IdTokenCheck { now, nonce: Some("n-0S6_WzA2Mj"), access_token: None, code: None };
    assert!(validator.validate(&token, &keys, &check).is_ok());
    let key = keys.select(Some("key-a"), Algorithm::RS256).expect("key").clone();

    let mut group = c.benchmark_group("id_token_rs256");
    group.bench_function("keyward_validate", |b| {
        b.iter(|| validator.validate(black_box(&token), &keys, &check).expect("valid"))
    });
    group.bench_function("jsonwebtoken_verify_only", |b| {
        b.iter(|| verify_signature(black_box(&token), &key, Algorithm::RS256).expect("valid"))
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        b.iter(|| jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &key, &v).expect("valid"))
    });
    // Keyward's own share: header checks and the claim rules on an already verified payload.
    let payload = verify_signature(&token, &key, Algorithm::RS256).expect("valid");
    group.bench_function("keyward_header_and_claims_only", |b| {
        b.iter(|| {
            let (_, alg) = validator.header(black_box(&token)).expect("header");
            validator.check_claims(payload.clone(), alg, &check).expect("claims")
        })
    });
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
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
    }
}
criterion_main!(group::benches);
