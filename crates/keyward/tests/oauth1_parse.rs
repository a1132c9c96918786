//! Rejections when reading an incoming request's protocol parameters (RFC 5849 §3.5):
//! each malformed input gives its own typed [`ParseError`], never a panic.

use keyward::oauth1::rfc5849::{ParseError, SignatureType, SignedRequest};

const GOOD: &str = r#"oauth_consumer_key="ck", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131200", oauth_nonce="n", oauth_signature="c2ln""#;

fn parse(uri: &str, auth: Option<&str>, form_body: Option<&str>) -> Result<SignedRequest, ParseError> {
    let mut b = http::Request::post(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    let body = match form_body {
        Some(f) => {
            b = b.header("content-type", "application/x-www-form-urlencoded");
            f.as_bytes().to_vec()
        }
        None => Vec::new(),
    };
    SignedRequest::from_http(&b.body(body).unwrap())
}

#[test]
fn accepts_a_well_formed_header() {
    let r = parse("https://e.com/r", Some(&format!("OAuth {GOOD}")), None).unwrap();
    assert_eq!(r.consumer_key(), "ck");
    assert_eq!(r.signature(), "c2ln");
    assert_eq!(r.signature_type(), SignatureType::Header);
    // Scheme is case-insensitive; empty list elements and tabs are tolerated.
    let r = parse("https://e.com/r", Some(&format!("oauth\t,{GOOD},")), None).unwrap();
    assert_eq!(r.nonce(), Some("n"));
}

#[test]
fn malformed_headers() {
    let cases = [
        r#"OAuth oauth_consumer_key=ck"#,
        r#"OAuth oauth_consumer_key="ck"#,
        r#"OAuth oauth_consumer_key="ck" oauth_nonce="n""#,
        r#"OAuth ="ck""#,
        r#"OAuth oauth_consumer_key"#,
        r#"OAuth oauth_consumer_key="c\"k""#,
        r#"OAuth foo="bar""#,
    ];
    for auth in cases {
        let err = parse("https://e.com/r", Some(auth), None).unwrap_err();
        assert!(matches!(err, ParseError::MalformedHeader(_)), "{auth}: {err:?}");
    }
}

#[test]
fn two_oauth_headers_are_refused() {
    let req = http::Request::get("https://e.com/r")
        .header("authorization", format!("OAuth {GOOD}"))
        .header("authorization", format!("OAuth {GOOD}"))
        .body(Vec::new())
        .unwrap();
    assert!(matches!(SignedRequest::from_http(&req), Err(ParseError::MalformedHeader(_))));
    // A header of another scheme is not OAuth's business.
    let req = http::Request::get("https://e.com/r")
        .header("authorization", "Bearer abc")
        .header("authorization", format!("OAuth {GOOD}"))
        .body(Vec::new())
        .unwrap();
    assert!(SignedRequest::from_http(&req).is_ok());
}

#[test]
fn non_utf8_and_bad_escapes() {
    let req = http::Request::get("https://e.com/r")
        .header("authorization", http::HeaderValue::from_bytes(b"OAuth oauth_consumer_key=\"\xff\"").unwrap())
        .body(Vec::new())
        .unwrap();
    assert_eq!(SignedRequest::from_http(&req).unwrap_err(), ParseError::NotUtf8("Authorization header"));

    let bad = format!("OAuth {}", GOOD.replace(r#""ck""#, r#""c%FFk""#));
    assert_eq!(
        parse("https://e.com/r", Some(&bad), None).unwrap_err(),
        ParseError::NotUtf8("Authorization header")
    );
    let bad = format!("OAuth {}", GOOD.replace(r#""ck""#, r#""c%Gk""#));
    assert_eq!(
        parse("https://e.com/r", Some(&bad), None).unwrap_err(),
        ParseError::BadEncoding("Authorization header")
    );

    let q = "https://e.com/r?oauth_consumer_key=%ZZ";
    assert_eq!(parse(q, None, None).unwrap_err(), ParseError::BadEncoding("query"));
    let q = "https://e.com/r?x=%C3%28";
    assert_eq!(parse(q, Some(&format!("OAuth {GOOD}")), None).unwrap_err(), ParseError::NotUtf8("query"));

    let req = http::Request::post("https://e.com/r")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"a=\xff".to_vec())
        .unwrap();
    assert_eq!(SignedRequest::from_http(&req).unwrap_err(), ParseError::NotUtf8("body"));
}

#[test]
fn duplicates_within_and_across_places() {
    let dup = format!("OAuth {GOOD}, oauth_nonce=\"again\"");
    assert_eq!(
        parse("https://e.com/r", Some(&dup), None).unwrap_err(),
        ParseError::Duplicated("oauth_nonce".into())
    );

    let dup_realm = format!("OAuth realm=\"a\", realm=\"b\", {GOOD}");
    assert_eq!(
        parse("https://e.com/r", Some(&dup_realm), None).unwrap_err(),
        ParseError::Duplicated("realm".into())
    );

    let q = "https://e.com/r?oauth_nonce=1&oauth_nonce=2";
    assert_eq!(parse(q, None, None).unwrap_err(), ParseError::Duplicated("oauth_nonce".into()));

    // What Authlib's client does: the same parameter in query and body.
    let form = "oauth_consumer_key=ck&oauth_signature_method=PLAINTEXT&oauth_signature=s%26";
    let q = format!("https://e.com/r?{form}");
    assert_eq!(parse(&q, None, Some(form)).unwrap_err(), ParseError::Duplicated("oauth_consumer_key".into()));

    // Header and query each carrying the same parameter.
    let q = "https://e.com/r?oauth_nonce=n";
    assert_eq!(
        parse(q, Some(&format!("OAuth {GOOD}")), None).unwrap_err(),
        ParseError::Duplicated("oauth_nonce".into())
    );
}

#[test]
fn parameters_split_across_places_are_refused() {
    let auth = r#"OAuth oauth_consumer_key="ck", oauth_signature_method="PLAINTEXT", oauth_signature="s%26""#;
    let err = parse("https://e.com/r?oauth_token=t", Some(auth), None).unwrap_err();
    assert_eq!(err, ParseError::MixedPlaces(SignatureType::Header, SignatureType::Query));
}

#[test]
fn missing_and_invalid_parameters() {
    assert_eq!(parse("https://e.com/r", None, None).unwrap_err(), ParseError::NoParameters);
    assert_eq!(parse("https://e.com/r", Some("Bearer x"), None).unwrap_err(), ParseError::NoParameters);
    for name in
        ["oauth_consumer_key", "oauth_signature_method", "oauth_signature", "oauth_timestamp", "oauth_nonce"]
    {
        let auth: Vec<&str> = GOOD.split(", ").filter(|p| !p.starts_with(&format!("{name}="))).collect();
        let err = parse("https://e.com/r", Some(&format!("OAuth {}", auth.join(", "))), None).unwrap_err();
        assert!(matches!(&err, ParseError::Missing(n) if *n == name), "without {name}: {err:?}");
    }
    // PLAINTEXT may omit timestamp and nonce (§3.1).
    let plain =
        r#"OAuth oauth_consumer_key="ck", oauth_signature_method="PLAINTEXT", oauth_signature="s%26""#;
    let r = parse("https://e.com/r", Some(plain), None).unwrap();
    assert_eq!((r.timestamp(), r.nonce()), (None, None));
    assert_eq!(r.require("oauth_token").unwrap_err(), ParseError::Missing("oauth_token"));

    let cases = [
        (GOOD.replace(r#""ck""#, r#""""#), "oauth_consumer_key"),
        (format!("{GOOD}, oauth_version=\"2.0\""), "oauth_version"),
    ];
    for (auth, name) in cases {
        let err = parse("https://e.com/r", Some(&format!("OAuth {auth}")), None).unwrap_err();
        assert_eq!(err, ParseError::Invalid(name), "{auth}");
    }
}

/// `oauth_timestamp` is "a positive integer" (§3.3): 1 to 18 ASCII digits, not zero. The
/// provider reads it through `timestamp_secs`, so this is the only rule.
#[test]
fn timestamps_are_positive_integers_of_at_most_18_digits() {
    let with_ts = |ts: &str| GOOD.replace("137131200", &keyward::common::encoding::encode(ts));
    for bad in [
        "",
        "0",
        "000",
        "-1",
        "-5",
        "+5",
        "+137131200",
        " 5",
        "5 ",
        "1e9",
        "12x",
        "0x10",
        "1.5",
        "\u{0665}",
        "1000000000000000000",  // 19 digits: fits an i64, still refused
        "9223372036854775807",  // i64::MAX
        "99999999999999999999", // 20 digits
        "99999999999999999999999",
    ] {
        let auth = format!("OAuth {}", with_ts(bad));
        let err = parse("https://e.com/r", Some(&auth), None).unwrap_err();
        assert_eq!(err, ParseError::Invalid("oauth_timestamp"), "{bad:?}");
        // The same in the query.
        let query = format!("https://e.com/r?{}", header_to_form(&with_ts(bad)));
        assert_eq!(parse(&query, None, None).unwrap_err(), ParseError::Invalid("oauth_timestamp"), "{bad:?}");
    }
    for (good, secs) in
        [("1", 1), ("0137131200", 137_131_200), ("999999999999999999", 999_999_999_999_999_999)]
    {
        let r = parse("https://e.com/r", Some(&format!("OAuth {}", with_ts(good))), None).unwrap();
        assert_eq!((r.timestamp(), r.timestamp_secs()), (Some(good), Some(secs)));
    }
}

/// `name="value", …` as `name=value&…` (the values are already percent-encoded).
fn header_to_form(header: &str) -> String {
    header.split(", ").map(|p| p.replace('"', "")).collect::<Vec<_>>().join("&")
}

#[test]
fn body_hash_is_refused_on_form_bodies() {
    let auth = format!("OAuth {GOOD}, oauth_body_hash=\"2jmj7l5rSw0yVb%2FvlWAYkK%2FYBwk%3D\"");
    let err = parse("https://e.com/r", Some(&auth), Some("a=1")).unwrap_err();
    assert_eq!(err, ParseError::Invalid("oauth_body_hash"));
}

/// The scheme and host are signed (§3.4.1.2): a request URI without them is refused, never
/// completed from the `Host` header (which would guess `http` for a client that used https).
#[test]
fn relative_uris_are_refused_even_with_a_host_header() {
    for uri in ["/r", "/r?x=1", "api.example.com/r"] {
        let Ok(uri) = uri.parse::<http::Uri>() else { continue };
        for host in [None, Some("api.example.com"), Some("API.example.com:80")] {
            let mut b = http::Request::get(uri.clone()).header("authorization", format!("OAuth {GOOD}"));
            if let Some(h) = host {
                b = b.header("host", h);
            }
            let req = b.body(Vec::new()).unwrap();
            assert_eq!(
                SignedRequest::from_http(&req).unwrap_err(),
                ParseError::RelativeUri,
                "{uri} {host:?}"
            );
            let (parts, body) = req.into_parts();
            let err =
                SignedRequest::from_parts(&parts.method, &parts.uri, &parts.headers, &body).unwrap_err();
            assert_eq!(err, ParseError::RelativeUri);
        }
    }
    // The absolute URI the server rebuilt is what is signed; with_base_uri replaces it.
    let req = http::Request::get("http://API.example.com:80/r?x=1")
        .header("authorization", format!("OAuth {GOOD}"))
        .body(Vec::new())
        .unwrap();
    let r = SignedRequest::from_http(&req).unwrap();
    assert_eq!(r.base_uri(), "http://api.example.com/r");
    assert_eq!(r.params(), [("x".to_owned(), "1".to_owned())]);
    assert_eq!(r.with_base_uri("https://api.example.com/r").unwrap().base_uri(), "https://api.example.com/r");
    let r = SignedRequest::from_http(&req).unwrap();
    assert_eq!(r.with_base_uri("/r").unwrap_err(), ParseError::RelativeUri);
    // User information is not part of a base string URI.
    let req = http::Request::get("https://user@api.example.com/r")
        .header("authorization", format!("OAuth {GOOD}"))
        .body(Vec::new())
        .unwrap();
    assert!(matches!(SignedRequest::from_http(&req), Err(ParseError::Uri(_))));
}

#[test]
fn debug_hides_the_verifier() {
    let auth = format!("OAuth {GOOD}, oauth_verifier=\"s3cret-verifier\"");
    let r = parse("https://e.com/r", Some(&auth), None).unwrap();
    assert_eq!(r.verifier(), Some("s3cret-verifier"));
    assert!(!format!("{r:?}").contains("s3cret-verifier"));
}
