//! The exact bytes of the requests the OAuth 2.0 core builds, and RFC vectors read from
//! `tests/vectors/`.

use keyward::common::secret::SecretString;
use keyward::oauth2::rfc6749::{
    AuthContext, ClientAuthentication, ClientSecretBasic, ClientSecretPost, Grant, PublicClient, RefreshToken,
};
use keyward::oauth2::rfc7636::{ChallengeMethod, CodeVerifier};
use keyward::oauth2::rfc8628::{DeviceCode, device_authorization_request};
use keyward::oauth2::{rfc7009, rfc7662};

fn vector(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn rfc7636_appendix_b() {
    let v = vector("rfc7636_appendix_b.json");
    let verifier = CodeVerifier::parse(v["code_verifier"].as_str().unwrap()).unwrap();
    let method: ChallengeMethod = v["code_challenge_method"].as_str().unwrap().parse().unwrap();
    assert_eq!(verifier.challenge(method), v["code_challenge"].as_str().unwrap());
}

fn ctx(secret: Option<&SecretString>) -> AuthContext<'_> {
    AuthContext { client_id: "s6BhdRkqt3", client_secret: secret, now: 0, unique: "u", token_endpoint: None }
}

#[test]
fn authorization_code_request_bytes() {
    // RFC 6749 §4.1.3's example, with client_secret_basic (§2.3.1).
    let secret = SecretString::new("7Fjfp0ZBr1KtDRbnfVdmIw");
    let verifier = CodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let grant = Grant::AuthorizationCode {
        code: "SplxlOBeZQQYbYS6WxSbIA",
        redirect_uri: Some("https://client.example.com/cb"),
        code_verifier: Some(&verifier),
    };
    let mut r = grant.token_request("https://server.example.com/token");
    ClientSecretBasic.authenticate(&mut r, &ctx(Some(&secret))).unwrap();
    let r = r.into_http().unwrap();
    assert_eq!(r.method(), "POST");
    assert_eq!(r.uri(), "https://server.example.com/token");
    assert_eq!(r.headers()["authorization"], "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3");
    assert_eq!(r.headers()["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(r.headers()["accept"], "application/json");
    assert_eq!(
        std::str::from_utf8(r.body()).unwrap(),
        "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&\
         redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
}

#[test]
fn other_grants_request_bytes() {
    let secret = SecretString::new("sec");
    let rt = RefreshToken::new("tGzv3JOkF0XG5Qx2TlKWIA");
    let mut r = Grant::RefreshToken { refresh_token: &rt, scope: None }.token_request("https://as/t");
    ClientSecretPost.authenticate(&mut r, &ctx(Some(&secret))).unwrap();
    let r = r.into_http().unwrap();
    assert!(r.headers().get("authorization").is_none());
    assert_eq!(r.body(), b"grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&client_id=s6BhdRkqt3&client_secret=sec");

    let mut r = Grant::ClientCredentials { scope: Some("read write") }.token_request("https://as/t");
    PublicClient.authenticate(&mut r, &ctx(None)).unwrap();
    assert_eq!(
        r.into_http().unwrap().body(),
        b"grant_type=client_credentials&scope=read%20write&client_id=s6BhdRkqt3"
    );

    let pw = SecretString::new("A3ddj3w");
    let r = Grant::Password { username: "johndoe", password: &pw, scope: None }.token_request("https://as/t");
    assert_eq!(r.into_http().unwrap().body(), b"grant_type=password&username=johndoe&password=A3ddj3w");

    let dc = DeviceCode::new("GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS");
    let r = Grant::DeviceCode { device_code: &dc }.token_request("https://as/t");
    assert_eq!(
        r.into_http().unwrap().body(),
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
    );
    let mut r = device_authorization_request("https://as/device", Some("openid"));
    PublicClient.authenticate(&mut r, &ctx(None)).unwrap();
    assert_eq!(r.into_http().unwrap().body(), b"scope=openid&client_id=s6BhdRkqt3");
}

#[test]
fn revocation_and_introspection_bytes() {
    let secret = SecretString::new("sec");
    let mut r =
        rfc7009::revocation_request("https://as/revoke", "45ghiukldjahdnhzdauz", Some("refresh_token"));
    ClientSecretBasic.authenticate(&mut r, &ctx(Some(&secret))).unwrap();
    let r = r.into_http().unwrap();
    assert_eq!(r.body(), b"token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token");
    assert_eq!(r.headers()["authorization"], "Basic czZCaGRSa3F0MzpzZWM=");
    let r =
        rfc7662::introspection_request("https://as/introspect", "mF_9.B5f-4.1JqM", None).into_http().unwrap();
    assert_eq!(r.body(), b"token=mF_9.B5f-4.1JqM");
}

#[test]
fn network_input_never_panics() {
    use keyward::common::random::{OsRandom, RandomSource};
    use keyward::oauth2::{rfc6749, rfc7009, rfc7662, rfc8414, rfc8628};
    use keyward::oidc::{core::IdTokenValidator, jwks::KeySet, userinfo};
    let mut bodies: Vec<Vec<u8>> = [
        "", "null", "[]", "{}", "\"x\"", "{\"error\":5}", "{\"error\":\"e\",\"error_description\":[1]}",
        "{\"access_token\":1}", "{\"access_token\":\"a\",\"expires_in\":1e308}", "{\"access_token\":\"a\",\"expires_in\":-9223372036854775808}",
        "{\"access_token\":\"a\",\"expires_in\":\"99999999999999999999\"}", "{\"access_token\":\"a\",\"expires_at\":{}}",
        "{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_uri\":\"v\",\"expires_in\":18446744073709551615,\"interval\":-1}",
        "{\"active\":\"yes\"}", "{\"issuer\":7}", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"},{\"kty\":\"EC\"},null,1]}",
        "{\"sub\":{}}", "\u{0}\u{1}\u{ff}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for len in [1, 7, 64, 512] {
        let mut b = vec![0u8; len];
        OsRandom.fill(&mut b);
        bodies.push(b);
    }
    let keys = KeySet::default();
    let v = IdTokenValidator::new("https://op", "c");
    for body in &bodies {
        for status in [200u16, 400, 401, 500] {
            for ct in ["application/json", "application/x-www-form-urlencoded", "application/jwt"] {
                let r = http::Response::builder()
                    .status(status)
                    .header("content-type", ct)
                    .body(body.clone())
                    .unwrap();
                let _ = rfc6749::parse_token_response(&r, i64::MAX);
                let _ = rfc7009::parse_revocation_response(&r);
                let _ = rfc7662::parse_introspection_response(&r);
                let _ = rfc8414::parse_metadata(&r, Some("https://op"), Some("{tenantid}"));
                let _ = rfc8628::parse_device_authorization_response(&r);
                let _ = keyward::oidc::jwks::parse_jwks_response(&r);
                let _ = userinfo::parse_userinfo_response(&r, Some("s"));
            }
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            let _ = KeySet::from_value(&v);
        }
        let text = String::from_utf8_lossy(body);
        let _ = v.validate(&text, &keys, &Default::default());
        let _ = v.validate(&format!("{text}.{text}.{text}"), &keys, &Default::default());
    }
}
