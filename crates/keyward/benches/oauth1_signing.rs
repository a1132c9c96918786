//! Signing a typical API request with OAuth 1.0a (RFC 5849 §3.1: base string §3.4.1,
//! HMAC-SHA1 §3.4.2, RSA-SHA1 §3.4.3, Authorization header §3.5.1), against the bare
//! primitive over the same base string, in the same run.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use keyward::oauth1::rfc5849::signature::{rsa_private_key_from_pem, shared_secret_key};
use keyward::oauth1::rfc5849::{
    ClientCredentials, RsaSha1, SignedRequest, Signer, SigningParams, TokenCredentials,
};
use keyward::{OsRandom, SystemClock};
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pkcs8::DecodePrivateKey;
use sha1::{Digest, Sha1};
use std::hint::black_box;

const PRIVATE_PEM: &str = include_str!("../../../tests/peers/keys/rsa_private.pem");

/// A typical API call: a GET with a few query parameters, signed with token credentials.
fn request() -> http::Request<Vec<u8>> {
    http::Request::get("https://api.example.com/1.1/statuses/home_timeline.json?count=50&include_entities=true&since_id=1234567890")
        .body(Vec::new())
        .expect("request")
}

fn bench(c: &mut Criterion) {
    // RSA-SHA1 signing is the `rsa` crate's (the one signature Keyward leaves to it); the
    // bare primitive is the same crate's, over the same key.
    let (_, der) = pem_rfc7468::decode_vec(PRIVATE_PEM.trim().as_bytes()).expect("PEM");
    let rsa = rsa::RsaPrivateKey::from_pkcs8_der(&der).expect("test key");
    let creds =
        ClientCredentials::new("xvz1evFS4wEEPTGEFPHBog", "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw")
            .with_rsa_key(rsa_private_key_from_pem(PRIVATE_PEM).expect("test key"));
    let token = TokenCredentials::new(
        "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    );
    let params = SigningParams { token: Some(&token), ..SigningParams::default() };
    let hmac_signer = Signer::new(creds.clone());
    let rsa_signer = Signer::new(creds).method(RsaSha1);

    // The base string of one signed request, for the bare primitives.
    let signed = hmac_signer.sign(request(), &params, &SystemClock, &OsRandom).expect("sign");
    let base = SignedRequest::from_http(&signed).expect("parse").base_string();
    let key = shared_secret_key("kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw", token.token_secret.secret());

    let mut group = c.benchmark_group("oauth1_sign_request");
    // Building the request is the caller's work: it is set up outside the measured part.
    group.bench_function("hmac_sha1_keyward_sign", |b| {
        b.iter_batched(
            request,
            |r| hmac_signer.sign(black_box(r), &params, &SystemClock, &OsRandom).expect("sign"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("hmac_sha1_keyward_sign_at_fixed_nonce", |b| {
        b.iter_batched(
            request,
            |r| {
                hmac_signer
                    .sign_at(black_box(r), &params, "1700000000", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                    .expect("sign")
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("hmac_sha1_bare_mac", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
            mac.update(black_box(base.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    group.bench_function("rsa_sha1_keyward_sign", |b| {
        b.iter_batched(
            request,
            |r| rsa_signer.sign(black_box(r), &params, &SystemClock, &OsRandom).expect("sign"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("rsa_sha1_bare_sign", |b| {
        b.iter(|| {
            let digest = Sha1::digest(black_box(base.as_bytes()));
            rsa.sign_with_rng(&mut rand::rngs::OsRng, Pkcs1v15Sign::new::<Sha1>(), &digest).expect("sign")
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
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
    }
}
criterion_main!(group::benches);
