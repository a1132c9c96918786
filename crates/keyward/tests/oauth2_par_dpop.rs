//! RFC 9126 (PAR) and RFC 9449 (DPoP), client halves: the RFC 7638 thumbprint vector, a
//! PAR request authenticated by the token endpoint's methods, and proofs that verify.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward::common::secret::SecretString;
use keyward::oauth2::rfc6749::{
    AuthContext, AuthorizationUrl, ClientAuthentication, ClientSecretBasic, PublicClient,
};
use keyward::oauth2::rfc7523::CLIENT_ASSERTION_TYPE;
use keyward::oauth2::rfc7523::{AssertionKey, ClientSecretJwt};
use keyward::oauth2::rfc9126::{authorization_url, parse_par_response, pushed_authorization_request};
use keyward::oauth2::rfc9449::{self, DpopKey};

fn vector(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn rfc7638_section_3_1_thumbprint() {
    let v = vector("rfc7638_section_3_1.json");
    let jwk = v["jwk"].as_object().unwrap();
    assert_eq!(rfc9449::jwk_thumbprint(jwk).unwrap(), v["thumbprint"].as_str().unwrap());
    // Members outside the required ones (`alg`, `kid`) do not count; a required one does.
    let mut bare = jwk.clone();
    bare.remove("alg");
    bare.remove("kid");
    assert_eq!(rfc9449::jwk_thumbprint(&bare).unwrap(), v["thumbprint"].as_str().unwrap());
    bare.insert("e".into(), "AQAC".into());
    assert_ne!(rfc9449::jwk_thumbprint(&bare).unwrap(), v["thumbprint"].as_str().unwrap());
    bare.remove("n");
    assert!(rfc9449::jwk_thumbprint(&bare).is_err());
}

#[test]
fn generated_key_thumbprint_is_its_public_jwks() {
    let key = DpopKey::generate().unwrap();
    assert_eq!(key.thumbprint(), rfc9449::jwk_thumbprint(key.public_jwk()).unwrap());
    assert_eq!(URL_SAFE_NO_PAD.decode(key.thumbprint()).unwrap().len(), 32);
}

fn ctx(secret: Option<&SecretString>) -> AuthContext<'_> {
    AuthContext {
        client_id: "s6BhdRkqt3",
        client_secret: secret,
        now: 1_000,
        unique: "jti-1",
        token_endpoint: Some("https://as.example/token"),
    }
}

#[test]
fn par_request_is_authenticated_like_a_token_request() {
    let mut a = AuthorizationUrl::new("https://as.example/authorize", "s6BhdRkqt3", "af0ifjsldkj");
    a.param("redirect_uri", "https://client.example.org/cb").param("scope", "openid");
    a.param("code_challenge", "K2-ltc83acc4h0c9w6ESC_rEMTJ3bww-uCHaoeK1t8U")
        .param("code_challenge_method", "S256");

    let secret = SecretString::new("7Fjfp0ZBr1KtDRbnfVdmIw");
    let mut r = pushed_authorization_request("https://as.example/par", &a);
    ClientSecretBasic.authenticate(&mut r, &ctx(Some(&secret))).unwrap();
    let req = r.into_http().unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.headers()["authorization"], "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3");
    assert_eq!(
        std::str::from_utf8(req.body()).unwrap(),
        "response_type=code&client_id=s6BhdRkqt3&redirect_uri=https%3A%2F%2Fclient.example.org%2Fcb&\
         scope=openid&state=af0ifjsldkj&code_challenge=K2-ltc83acc4h0c9w6ESC_rEMTJ3bww-uCHaoeK1t8U&\
         code_challenge_method=S256"
    );

    // A public client: `client_id` in the body once; a client assertion: its two parameters.
    let mut r = pushed_authorization_request("https://as.example/par", &a);
    PublicClient.authenticate(&mut r, &ctx(None)).unwrap();
    assert_eq!(r.params.iter().filter(|(k, _)| k == "client_id").count(), 1);
    let mut r = pushed_authorization_request("https://as.example/par", &a);
    ClientSecretJwt.authenticate(&mut r, &ctx(Some(&secret))).unwrap();
    assert_eq!(r.get("client_assertion_type"), Some(CLIENT_ASSERTION_TYPE));
    let assertion = r.get("client_assertion").unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(assertion.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!(claims["aud"], "https://as.example/token");
    let _ = AssertionKey::client_secret(&secret, None).unwrap();

    let response = http::Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .body(br#"{"request_uri":"urn:ietf:params:oauth:request_uri:bwc4JK-ESC0w8acc191e-Y1LTC2","expires_in":60}"#.to_vec())
        .unwrap();
    let pushed = parse_par_response(&response).unwrap();
    let url = authorization_url("https://as.example/authorize", "s6BhdRkqt3", &pushed).unwrap();
    let query = url::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = query.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        vec![
            ("client_id".to_owned(), "s6BhdRkqt3".to_owned()),
            (
                "request_uri".to_owned(),
                "urn:ietf:params:oauth:request_uri:bwc4JK-ESC0w8acc191e-Y1LTC2".to_owned()
            ),
        ],
        "only client_id and request_uri (RFC 9126 §4)"
    );
}

#[test]
fn proofs_differ_per_request_and_verify() {
    let key = DpopKey::generate().unwrap();
    let random = keyward::OsRandom;
    let a = key.proof(&http::Method::POST, "https://as.example/token", 10, &random, None, None).unwrap();
    let b = key.proof(&http::Method::POST, "https://as.example/token", 10, &random, None, None).unwrap();
    let claims = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p.split('.').nth(1).unwrap()).unwrap()).unwrap()
    };
    assert_ne!(claims(&a)["jti"], claims(&b)["jti"], "a fresh jti per proof");
    // Imported from its PEM, the key signs proofs with the same JWK.
    let again = DpopKey::from_pkcs8_pem(&key.to_pkcs8_pem(), jsonwebtoken::Algorithm::ES256).unwrap();
    let c = again.proof(&http::Method::GET, "https://rs.example/", 10, &random, Some("t"), None).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["jwk"], serde_json::Value::Object(key.public_jwk().clone()));
}
