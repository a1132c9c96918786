//! Test support shared by Keyward's crates: finding the interop peers (Python's
//! `oauthlib`/`authlib`, npm's `oidc-provider`) and the Redis/PostgreSQL servers that
//! `.ci/run` installs and starts.
//!
//! A test that needs a peer calls [`require`]: when the peer is there it gets its location;
//! when it is absent it is skipped *visibly* (a `SKIPPED:` line on stderr), except under
//! `CI=true`, where a missing peer fails the test.

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).map(Path::to_path_buf).unwrap_or_default()
}

/// Where `.ci/run` installs peers: `$KEYWARD_PEERS`, else `<workspace>/.peers`.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("KEYWARD_PEERS").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".peers"))
}

/// True when running under CI (`CI=true`), where a missing peer is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns `Some(value)` when the peer is available, else skips (or fails under CI).
///
/// `what` names the peer for the message; `how` says how to provide it.
pub fn require<T>(found: Option<T>, test: &str, what: &str, how: &str) -> Option<T> {
    if found.is_some() {
        return found;
    }
    if in_ci() {
        panic!("{test}: required peer {what} is missing under CI=true ({how})");
    }
    // Written to the process's stderr directly, not through `eprintln!`, which the test
    // harness captures and hides for passing tests: a skip must be seen.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: needs {what} ({how})");
    None
}

/// The Python interpreter of the peers' virtualenv, if installed.
pub fn python() -> Option<PathBuf> {
    let p = peers_dir().join("venv/bin/python");
    p.exists().then_some(p)
}

/// The `node_modules` folder holding npm peers, if installed.
pub fn node_modules() -> Option<PathBuf> {
    let p = peers_dir().join("node/node_modules");
    p.exists().then_some(p)
}

/// An environment variable naming a server URL (e.g. `KEYWARD_TEST_REDIS_URL`), if set.
pub fn server_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Skips the calling test (returning from it) unless the peer is available.
#[macro_export]
macro_rules! require_or_skip {
    ($found:expr, $what:expr, $how:expr) => {
        match $crate::require($found, module_path!(), $what, $how) {
            Some(v) => v,
            None => return,
        }
    };
}

pub mod failures;
pub mod jose;
pub mod oauth2_glue;
pub mod oidc_glue;
pub mod peers;
pub mod postgres;
