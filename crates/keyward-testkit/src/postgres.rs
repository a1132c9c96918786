//! A throwaway PostgreSQL cluster of one test's own, which the test may stop and start
//! again (`pg_ctl stop -m immediate`, as a crash would) without touching the shared test
//! server that other tests use.
//!
//! It needs PostgreSQL's `initdb` and `pg_ctl` (Debian: `postgresql`; found under
//! `/usr/lib/postgresql/*/bin`, then `pg_config --bindir`, then `PATH`). As root, the
//! cluster runs as the `postgres` user (or `nobody`), since PostgreSQL refuses to run as
//! root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A PostgreSQL cluster in a temporary folder on a free loopback port, with a database
/// `keyward_test` owned by the trusted user `keyward`; stopped and deleted on drop.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
}

/// PostgreSQL's binary folder, if `initdb` and `pg_ctl` are installed.
pub fn bindir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    // Highest version last (numeric folder names).
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    if let Some(bin) = found.pop() {
        return Some(bin);
    }
    let from_config = Command::new("pg_config").arg("--bindir").output().ok().filter(|o| o.status.success());
    if let Some(out) = from_config {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if bin.join("initdb").exists() {
            return Some(bin);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

static STARTED: AtomicU32 = AtomicU32::new(0);

impl Cluster {
    /// Creates and starts a cluster, or returns `None` when PostgreSQL is not installed
    /// (pass that to [`require`](crate::require)). Panics when it is installed but the
    /// cluster does not start.
    pub fn start() -> Option<Cluster> {
        let bin = bindir()?;
        let run_as = is_root().then(|| {
            let postgres = Command::new("getent").args(["passwd", "postgres"]).output();
            if postgres.is_ok_and(|o| o.status.success()) { "postgres" } else { "nobody" }.to_owned()
        });
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("keyward-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster's folder");
        let cluster = Cluster { dir, bin, run_as, port: free_port() };
        if let Some(user) = &cluster.run_as {
            let chown = Command::new("chown").arg(user).arg(&cluster.dir).status();
            assert!(chown.is_ok_and(|s| s.success()), "chown {user} {}", cluster.dir.display());
        }
        let pgdata = cluster.pgdata();
        let out = cluster.run(
            "initdb",
            &["-D", path_str(&pgdata), "-U", "keyward", "-A", "trust", "-E", "UTF8", "--no-locale"],
        );
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        cluster.restart();
        let out = Command::new(cluster.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", "keyward", "keyward_test"])
            .output()
            .expect("run createdb");
        assert!(out.status.success(), "createdb failed: {}", String::from_utf8_lossy(&out.stderr));
        Some(cluster)
    }

    /// `postgres://keyward@127.0.0.1:{port}/keyward_test`.
    pub fn url(&self) -> String {
        format!("postgres://keyward@127.0.0.1:{}/keyward_test", self.port)
    }

    /// The port it listens on (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`): every
    /// connection is cut, and new ones are refused until [`Cluster::restart`].
    pub fn stop_immediate(&self) {
        let pgdata = self.pgdata();
        let out = self.run("pg_ctl", &["-D", path_str(&pgdata), "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the server (again), on the same port, and waits until it accepts
    /// connections.
    pub fn restart(&self) {
        let pgdata = self.pgdata();
        let log = self.dir.join("postgres.log");
        let settings = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let out = self.run(
            "pg_ctl",
            &["-D", path_str(&pgdata), "-l", path_str(&log), "-w", "-t", "60", "-o", &settings, "start"],
        );
        let log_tail = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            log_tail()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not listen again: {}", log_tail());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pgdata(&self) -> PathBuf {
        self.dir.join("pg")
    }

    /// Runs one of PostgreSQL's programs, as the cluster's owner.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(&program);
                cmd
            }
            None => Command::new(&program),
        };
        cmd.args(args).output().unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.pgdata().join("postmaster.pid").exists() {
            let pgdata = self.pgdata();
            let _ = self.run("pg_ctl", &["-D", path_str(&pgdata), "-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
