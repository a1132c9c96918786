//! The demo's configuration from flags, `KEYWARD_DEMO_*` variables and `keyward.toml`.

mod common;

use common::TempDir;
use keyward_demo::{Config, ConfigError};
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn defaults_serve_sqlite_on_port_8000() {
    let c = Config::from_args(args(&[]), env(&[])).unwrap();
    assert_eq!(c.addr.to_string(), "127.0.0.1:8000");
    assert_eq!(c.base_url(), "http://127.0.0.1:8000");
    assert_eq!(c.database_url, "sqlite://keyward-demo.db");
    assert!(c.redis_url.is_none() && c.users.is_empty() && c.oauth1_clients.is_empty());
}

#[test]
fn flags_win_over_variables_and_the_file() {
    let dir = TempDir::new("config");
    std::fs::write(dir.0.join("client.pem"), "not read here").unwrap();
    let file = dir.0.join("keyward.toml");
    std::fs::write(
        &file,
        r#"
        [demo]
        addr = "127.0.0.1:7000"
        database_url = "postgres://file@127.0.0.1/demo"
        users = ["carol:carol-password"]

        [[demo.oauth1_clients]]
        client_id = "from-file"
        client_secret = "file-secret"
        callback_uri = "https://file.example/cb"
        redirect_uris = ["https://file.example/cb", "oob"]
        rsa_public_key = "client.pem"

        [clients.github]
        client_id = "gh"
        client_secret = "gh-secret"
        "#,
    )
    .unwrap();
    let c = Config::from_args(
        args(&["--config", file.to_str().unwrap(), "--addr=0.0.0.0:9000"]),
        env(&[
            ("KEYWARD_DEMO_ADDR", "127.0.0.1:8500"),
            ("KEYWARD_DEMO_REDIS_URL", "redis://:redis-password@127.0.0.1:6379"),
            ("KEYWARD_DEMO_USERS", "alice:pw-alice, bob:pw:with:colons"),
            ("KEYWARD_DEMO_OAUTH1_CLIENT_ID", "from-env"),
            ("KEYWARD_DEMO_OAUTH1_CLIENT_SECRET", "env-secret"),
            ("KEYWARD_DEMO_OAUTH1_REDIRECT_URIS", " https://env.example/a ,https://env.example/b,"),
        ]),
    )
    .unwrap();
    assert_eq!(c.addr.to_string(), "0.0.0.0:9000", "the flag wins");
    assert_eq!(c.base_url(), "http://127.0.0.1:9000", "an unspecified address is reached on loopback");
    assert_eq!(c.database_url, "postgres://file@127.0.0.1/demo");
    assert_eq!(c.redis_url.as_deref(), Some("redis://:redis-password@127.0.0.1:6379"));
    let users: Vec<(&str, &str)> =
        c.users.iter().map(|u| (u.username.as_str(), u.password.secret())).collect();
    assert_eq!(users, [("carol", "carol-password"), ("alice", "pw-alice"), ("bob", "pw:with:colons")]);
    assert_eq!(c.oauth1_clients.len(), 2);
    assert_eq!(c.oauth1_clients[0].rsa_public_key.as_deref(), Some(dir.0.join("client.pem").as_path()));
    assert_eq!(c.oauth1_clients[1].client_id, "from-env");
    let uris = |i: usize| c.oauth1_clients[i].redirect_uris.clone();
    assert_eq!(uris(0), Some(vec!["https://file.example/cb".to_owned(), "oob".to_owned()]));
    assert_eq!(uris(1), Some(vec!["https://env.example/a".to_owned(), "https://env.example/b".to_owned()]));
    assert!(c.toml.as_deref().is_some_and(|t| t.contains("[clients.github]")));
    let debug = format!("{c:?}");
    for secret in ["carol-password", "pw-alice", "file-secret", "env-secret", "gh-secret", "redis-password"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn mistakes_are_named() {
    let err = |a: &[&str], e: &[(&str, &str)]| Config::from_args(args(a), env(e)).unwrap_err().to_string();
    assert!(err(&["--port", "1"], &[]).contains("unknown argument `--port`"));
    assert!(err(&["--addr"], &[]).contains("--addr needs a value"));
    assert!(err(&["--addr", "nowhere"], &[]).contains("invalid --addr"));
    assert!(err(&[], &[("KEYWARD_DEMO_USERS", "alice")]).contains("KEYWARD_DEMO_USERS"));
    assert!(
        err(&[], &[("KEYWARD_DEMO_OAUTH1_CLIENT_ID", "x")]).contains("KEYWARD_DEMO_OAUTH1_CLIENT_SECRET")
    );
    assert!(err(&["--public-url", "ftp://x"], &[]).contains("--public-url"));
    assert!(err(&["--config", "/nonexistent/keyward.toml"], &[]).contains("cannot read"));
    assert!(
        matches!(Config::from_args(args(&["--help"]), env(&[])), Err(ConfigError::Usage(u)) if u.contains("USAGE"))
    );
}

#[test]
fn the_example_configuration_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keyward.example.toml");
    let c = Config::from_args(args(&["--config", path.to_str().unwrap()]), env(&[])).unwrap();
    assert_eq!(c.addr.to_string(), "127.0.0.1:8000");
    assert_eq!(c.users.len(), 2);
    assert_eq!(c.oauth1_clients[0].client_id, "printer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_configuration_starts() {
    let dir = TempDir::new("example");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keyward.example.toml");
    let mut c = Config::from_args(
        args(&["--config", path.to_str().unwrap(), "--database-url", &dir.sqlite_url()]),
        env(&[]),
    )
    .unwrap();
    c.env = false;
    let _router = keyward_demo::build_app(c).await.expect("the example starts");
}

#[test]
fn signature_methods_come_from_the_variable_or_the_file_and_unknown_names_stop_the_start() {
    let dir = TempDir::new("methods");
    let file = dir.0.join("keyward.toml");
    std::fs::write(&file, "[demo]\noauth1_signature_methods = [\"HMAC-SHA1\", \"plaintext\"]\n").unwrap();
    let with_file =
        |e: &[(&str, &str)]| Config::from_args(args(&["--config", file.to_str().unwrap()]), env(e));

    let default = Config::from_args(args(&[]), env(&[])).unwrap();
    assert_eq!(default.oauth1_signature_methods, ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "RSA-SHA256"]);
    assert!(!default.oauth1_signature_methods.iter().any(|m| m == "PLAINTEXT"), "PLAINTEXT only when listed");
    assert_eq!(
        with_file(&[]).unwrap().oauth1_signature_methods,
        ["HMAC-SHA1", "PLAINTEXT"],
        "spelled as RFC 5849"
    );
    let from_env =
        with_file(&[("KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS", "HMAC-SHA1, RSA-SHA1,PLAINTEXT")]).unwrap();
    assert_eq!(
        from_env.oauth1_signature_methods,
        ["HMAC-SHA1", "RSA-SHA1", "PLAINTEXT"],
        "the variable wins"
    );

    let err =
        Config::from_args(args(&[]), env(&[("KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS", "HMAC-SHA1,HMAC-MD5")]))
            .unwrap_err()
            .to_string();
    assert!(err.contains("KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS") && err.contains("`HMAC-MD5`"), "{err}");
    let err = Config::from_args(args(&[]), env(&[("KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS", " , ")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least one"), "{err}");
    std::fs::write(&file, "[demo]\noauth1_signature_methods = [\"RSA-MD5\"]\n").unwrap();
    let err = with_file(&[]).unwrap_err().to_string();
    assert!(err.contains("[demo].oauth1_signature_methods") && err.contains("`RSA-MD5`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_built_in_code_with_an_unknown_method_does_not_start() {
    let dir = TempDir::new("methods-code");
    let (_listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.oauth1_signature_methods = vec!["HMAC-SHA1".into(), "ROT13".into()];
    let err = keyward_demo::build_app(config).await.expect_err("refused").to_string();
    assert!(err.contains("`ROT13`"), "{err}");
}

#[test]
fn help_names_every_variable_and_version_answers() {
    let usage = match Config::from_args(args(&["--help"]), env(&[])) {
        Err(ConfigError::Usage(u)) => u,
        other => panic!("{other:?}"),
    };
    let config_line =
        usage.lines().skip_while(|l| !l.trim_start().starts_with("--config")).take(2).collect::<String>();
    assert!(config_line.contains("KEYWARD_DEMO_CONFIG"), "{usage}");
    for needle in [
        "--version",
        "KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS",
        "…_REDIRECT_URIS",
        "POST /api/me",
        "realm",
        "KEYWARD_DEMO_OAUTH2_CLIENT_ID",
        "…_GRANT_TYPES",
        "…_PUBLIC=true",
        "[[demo.oauth2_clients]]",
        "/.well-known/oauth-authorization-server",
        "Bearer",
    ] {
        assert!(usage.contains(needle), "{needle} in {usage}");
    }
    for flag in ["--version", "-V"] {
        match Config::from_args(args(&[flag]), env(&[])) {
            Err(ConfigError::Usage(v)) => {
                assert_eq!(v, format!("keyward-demo {}", env!("CARGO_PKG_VERSION")))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn oauth2_clients_come_from_the_file_and_the_environment() {
    let dir = TempDir::new("config-oauth2");
    let file = dir.0.join("keyward.toml");
    std::fs::write(
        &file,
        r#"
        [[demo.oauth2_clients]]
        client_id = "spa"
        public = true
        redirect_uris = ["http://127.0.0.1:5173/cb"]
        name = "A single-page app"

        [[demo.oauth2_clients]]
        client_id = "backend"
        client_secret = "backend-secret"
        grant_types = ["client_credentials"]
        "#,
    )
    .unwrap();
    let c = Config::from_args(
        args(&["--config", file.to_str().unwrap()]),
        env(&[
            ("KEYWARD_DEMO_OAUTH2_CLIENT_ID", "from-env"),
            ("KEYWARD_DEMO_OAUTH2_CLIENT_SECRET", "env-secret"),
            ("KEYWARD_DEMO_OAUTH2_REDIRECT_URIS", "https://a.example/cb, https://b.example/cb,"),
            ("KEYWARD_DEMO_OAUTH2_GRANT_TYPES", "authorization_code,refresh_token"),
            ("KEYWARD_DEMO_OAUTH2_PUBLIC", "false"),
        ]),
    )
    .unwrap();
    let ids: Vec<&str> = c.oauth2_clients.iter().map(|o| o.client_id.as_str()).collect();
    assert_eq!(ids, ["spa", "backend", "from-env"]);
    let spa = &c.oauth2_clients[0];
    assert!(spa.public && spa.client_secret.is_none());
    assert_eq!(spa.name.as_deref(), Some("A single-page app"));
    assert_eq!(c.oauth2_clients[1].grant_types, ["client_credentials"]);
    let from_env = &c.oauth2_clients[2];
    assert_eq!(from_env.redirect_uris, ["https://a.example/cb", "https://b.example/cb"]);
    assert_eq!(from_env.grant_types, ["authorization_code", "refresh_token"]);
    assert_eq!(from_env.client_secret.as_ref().map(|s| s.secret()), Some("env-secret"));
    assert!(!format!("{c:?}").contains("env-secret"), "secrets stay out of Debug");

    let e = Config::from_args(
        args(&[]),
        env(&[("KEYWARD_DEMO_OAUTH2_CLIENT_ID", "x"), ("KEYWARD_DEMO_OAUTH2_PUBLIC", "yes please")]),
    )
    .unwrap_err();
    assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "KEYWARD_DEMO_OAUTH2_PUBLIC"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_oauth2_seeds_stop_the_start_with_the_key_named() {
    let dir = TempDir::new("config-oauth2-bad");
    let cases: [(&str, keyward_demo::SeedOAuth2Client); 3] = [
        (
            "client_secret",
            keyward_demo::SeedOAuth2Client {
                client_id: "no-secret".into(),
                client_secret: None,
                redirect_uris: vec!["https://a.example/cb".into()],
                grant_types: Vec::new(),
                public: false,
                name: None,
            },
        ),
        (
            "grant_types",
            keyward_demo::SeedOAuth2Client {
                client_id: "typo".into(),
                client_secret: Some(keyward::common::secret::SecretString::new("s")),
                redirect_uris: vec!["https://a.example/cb".into()],
                grant_types: vec!["implicit".into()],
                public: false,
                name: None,
            },
        ),
        (
            "redirect_uris",
            keyward_demo::SeedOAuth2Client {
                client_id: "relative".into(),
                client_secret: None,
                redirect_uris: vec!["/cb".into()],
                grant_types: Vec::new(),
                public: true,
                name: None,
            },
        ),
    ];
    for (key, seed) in cases {
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.sqlite_url());
        config.oauth2_clients.push(seed);
        let Err(e) = keyward_demo::build_app(config).await else { panic!("{key}: started") };
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
}
