//! Smoke tests: the Redis and PostgreSQL servers that `.ci/run` (or
//! `source tests/peers/servers.sh start`) starts answer on the URLs it exports.
//!
//! Both speak the servers' wire protocols over a raw TCP socket, so the test kit needs no
//! client library.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use keyward_testkit::{require_or_skip, server_url};

const HOW: &str = "run `source tests/peers/servers.sh start` or `bash .ci/run`";

/// Splits `scheme://[user@]host:port[/path]` into (user, host:port, path).
fn split_url<'a>(url: &'a str, scheme: &str) -> (Option<&'a str>, &'a str, &'a str) {
    let rest = url.strip_prefix(scheme).and_then(|r| r.strip_prefix("://"));
    let rest = rest.unwrap_or_else(|| panic!("{url} does not start with {scheme}://"));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host, path),
        None => (None, authority, path),
    }
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

#[test]
fn redis_answers_ping() {
    let url = require_or_skip!(server_url("KEYWARD_TEST_REDIS_URL"), "Redis (KEYWARD_TEST_REDIS_URL)", HOW);
    let (_, addr, _) = split_url(&url, "redis");
    let mut stream = connect(addr);
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
}

#[test]
fn postgres_accepts_the_test_user_and_database() {
    let url = require_or_skip!(
        server_url("KEYWARD_TEST_DATABASE_URL"),
        "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
        HOW
    );
    let (user, addr, database) = split_url(&url, "postgres");
    let user = user.expect("the URL names a user");
    let database = database.split('?').next().unwrap_or_default();
    assert!(!database.is_empty(), "the URL names a database");

    // StartupMessage (protocol 3.0): length, version, then NUL-terminated key/value pairs.
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = u32::try_from(body.len() + 4).unwrap().to_be_bytes().to_vec();
    msg.extend_from_slice(&body);

    let mut stream = connect(addr);
    stream.write_all(&msg).unwrap();
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut rest = vec![0u8; len.saturating_sub(4)];
    stream.read_exact(&mut rest).unwrap();
    assert_eq!(
        head[0],
        b'R',
        "expected an authentication message, got {:?}: {}",
        head[0] as char,
        String::from_utf8_lossy(&rest)
    );
    // AuthenticationOk: the servers run with trust authentication on loopback.
    assert_eq!(rest, [0, 0, 0, 0], "expected AuthenticationOk");
    // Terminate.
    stream.write_all(&[b'X', 0, 0, 0, 4]).unwrap();
}
