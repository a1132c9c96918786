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
