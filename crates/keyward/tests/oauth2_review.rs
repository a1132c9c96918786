//! Regression tests from a review of the OAuth 2.0 / OpenID Connect core against the RFCs:
//! one test per defect found, each named after the rule it checks.

use keyward::oidc::discovery::parse_discovery_response;

fn json(body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn doc(issuer: &str) -> http::Response<Vec<u8>> {
    json(&serde_json::json!({"issuer": issuer, "token_endpoint": "https://t.example/token"}).to_string())
}

/// OpenID Connect Discovery §4 and RFC 8414 §3.1: an issuer's terminating `/` is removed
/// before the well-known suffix goes in, so Auth0's issuer `https://tenant.example/` is
/// served at `https://tenant.example/.well-known/openid-configuration`, and §4.3 / §3.3
/// compare the document's `issuer` with that issuer, `/` included.
#[test]
fn discovery_accepts_the_issuer_whose_terminating_slash_the_url_dropped() {
    let oidc = "https://tenant.example/.well-known/openid-configuration";
    let m = parse_discovery_response(&doc("https://tenant.example/"), oidc, None).unwrap();
    assert_eq!(m.issuer, "https://tenant.example/", "kept as the document says (ID tokens carry it)");
    assert!(parse_discovery_response(&doc("https://tenant.example"), oidc, None).is_ok());
    let with_path = "https://as.example/realm/.well-known/openid-configuration";
    assert!(parse_discovery_response(&doc("https://as.example/realm/"), with_path, None).is_ok());
    let rfc8414 = "https://as.example/.well-known/oauth-authorization-server/realm";
    assert!(parse_discovery_response(&doc("https://as.example/realm/"), rfc8414, None).is_ok());
    assert!(parse_discovery_response(&doc("https://as.example/realm"), rfc8414, None).is_ok());

    // Anything else is still another issuer.
    for other in [
        "https://tenant.example//",
        "https://tenant.example/x",
        "https://other.example/",
        "https://tenant.example./",
    ] {
        assert!(parse_discovery_response(&doc(other), oidc, None).is_err(), "{other}");
    }
    assert!(parse_discovery_response(&doc("https://as.example/realm/x/"), with_path, None).is_err());
}

/// Secrets stay out of `Debug` (DESIGN.md rule 3): the body of a token-endpoint request holds
/// client secrets, codes, verifiers, refresh tokens, passwords and assertions, and the
/// `Authorization` header of client_secret_basic (RFC 6749 §2.3.1) and of a bearer request
/// (RFC 6750 §2.1) holds credentials; an application that logs a request in a compliance
/// hook (`tracing::debug!(?request)`) or its transport's requests must not log them.
#[test]
fn request_credentials_stay_out_of_debug() {
    use keyward::common::secret::SecretString;
    use keyward::oauth2::rfc6749::{
        AuthContext, ClientAuthentication, ClientSecretBasic, ClientSecretPost, Grant, RefreshToken,
    };
    use keyward::oauth2::rfc6750::{TokenPlacement, add_bearer_token};
    use keyward::oauth2::rfc7636::CodeVerifier;

    const SECRETS: &[&str] = &[
        "cs-Zq81-client-secret",
        "rt-Lp27-refresh-token",
        "code-Hx52-authorization",
        "pw-Tt09-password",
        "at-Kq93-access-token",
    ];
    let basic = base64_of("client-1:cs-Zq81-client-secret");
    let clean = |what: &str, text: String| {
        for s in SECRETS.iter().copied().chain([basic.as_str()]) {
            assert!(!text.contains(s), "{what} leaks {s}: {text}");
        }
        text
    };

    let secret = SecretString::new("cs-Zq81-client-secret");
    let ctx = AuthContext {
        client_id: "client-1",
        client_secret: Some(&secret),
        now: 0,
        unique: "jti",
        token_endpoint: None,
    };
    let verifier = CodeVerifier::new("v".repeat(43) + "-verifier-Mm31");
    let rt = RefreshToken::new("rt-Lp27-refresh-token");
    let pw = SecretString::new("pw-Tt09-password");
    let grants = [
        Grant::AuthorizationCode {
            code: "code-Hx52-authorization",
            redirect_uri: Some("https://rp.example/cb"),
            code_verifier: Some(&verifier),
        },
        Grant::RefreshToken { refresh_token: &rt, scope: Some("read") },
        Grant::Password { username: "alice", password: &pw, scope: None },
    ];
    for grant in grants {
        let methods: [&dyn ClientAuthentication; 2] = [&ClientSecretBasic, &ClientSecretPost];
        for method in methods {
            let mut r = grant.token_request("https://as.example/token");
            method.authenticate(&mut r, &ctx).unwrap();
            let text = clean("FormRequest", format!("{r:?}{r:#?}"));
            assert!(text.contains("grant_type") && text.contains(grant.grant_type()), "still useful: {text}");
            assert!(!text.contains("-verifier-Mm31"), "{text}");
            let http = r.into_http().unwrap();
            clean("http::Request headers", format!("{:?}", http.headers()));
        }
    }

    let mut api = http::Request::get("https://api.example/me").body(Vec::new()).unwrap();
    add_bearer_token(&mut api, "at-Kq93-access-token", TokenPlacement::Header).unwrap();
    assert!(api.headers()["authorization"].is_sensitive());
    clean("bearer request", format!("{api:?}"));
    assert_eq!(api.headers()["authorization"], "Bearer at-Kq93-access-token", "the bytes are unchanged");
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The token a client keeps: its `Debug` must not print the ID token (a bearer credential at
/// many APIs) nor the values of unknown members, which can be more tokens.
#[test]
fn token_debug_redacts_the_id_token_and_extra_values() {
    let body = serde_json::json!({
        "access_token": "at-Kq93-access-token", "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": "rt-Lp27-refresh-token", "scope": "openid",
        "id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.sig-Wq77-id-token",
        "authed_user": {"access_token": "xoxp-Uu12-user-token"},
        "incoming_webhook": {"url": "https://hooks.example/T0/B0/hook-Rr45-secret"},
    });
    let t = keyward::oauth2::rfc6749::parse_token_response(&json(&body.to_string()), 0).unwrap();
    let text = format!("{t:?}{t:#?}");
    for s in ["at-Kq93", "rt-Lp27", "sig-Wq77-id-token", "eyJhbGci", "xoxp-Uu12", "hook-Rr45"] {
        assert!(!text.contains(s), "Token's Debug leaks {s}: {text}");
    }
    for shown in ["authed_user", "incoming_webhook", "openid", "3600"] {
        assert!(text.contains(shown), "Token's Debug still says {shown}: {text}");
    }
}

/// A success response that does not parse keeps its raw body (DESIGN.md rule 4), but a token
/// response's body holds the tokens: `Debug` of the error (what `tracing::debug!(?err)`
/// prints) must not show it. `scope` as an array is a real deviation from RFC 6749 §5.1.
#[test]
fn a_token_response_that_does_not_parse_keeps_its_tokens_out_of_debug() {
    let body = r#"{"access_token":"at-Kq93-access-token","refresh_token":"rt-Lp27-refresh-token","scope":["a","b"]}"#;
    let e = keyward::oauth2::rfc6749::parse_token_response(&json(body), 0).unwrap_err();
    match &e {
        keyward::oauth2::OAuth2Error::Parse { status: 200, body: raw, .. } => {
            assert_eq!(raw, body.as_bytes())
        }
        other => panic!("{other:?}"),
    }
    let text = format!("{e:?}{e:#?}");
    let as_debug_bytes = |s: &str| format!("{:?}", s.as_bytes()).trim_matches(['[', ']']).to_owned();
    for s in ["at-Kq93", "rt-Lp27"] {
        assert!(!text.contains(s) && !text.contains(&as_debug_bytes(s)), "{text}");
    }
    assert!(text.contains("Parse") && text.contains("scope"), "still says what failed: {text}");
}

/// RFC 6749 §10.5: "Authorization codes operate as plaintext bearer credentials"; with the
/// access token they are what the ID-token checks bind (`c_hash`, `at_hash`). Neither may
/// come out of the `Debug` of the values that carry them.
#[test]
fn codes_and_access_tokens_stay_out_of_debug_of_grants_and_id_token_checks() {
    use keyward::oauth2::rfc6749::Grant;
    use keyward::oidc::core::IdTokenCheck;

    let grant = Grant::AuthorizationCode {
        code: "code-Hx52-authorization",
        redirect_uri: Some("https://rp.example/cb"),
        code_verifier: None,
    };
    let text = format!("{grant:?}{grant:#?}");
    assert!(!text.contains("code-Hx52"), "{text}");
    assert!(text.contains("AuthorizationCode") && text.contains("https://rp.example/cb"), "{text}");

    let check = IdTokenCheck {
        now: 1_700_000_000,
        nonce: Some("n-0S6"),
        access_token: Some("at-Kq93-access-token"),
        code: Some("code-Hx52-authorization"),
    };
    let text = format!("{check:?}{check:#?}");
    for s in ["at-Kq93", "code-Hx52"] {
        assert!(!text.contains(s), "IdTokenCheck's Debug leaks {s}: {text}");
    }
    assert!(text.contains("1700000000"), "{text}");
}
