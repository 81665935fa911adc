//! A real PostgreSQL for tests: `$DATABASE_URL` when set, otherwise a throwaway
//! cluster started by `scripts/pg-throwaway.sh` in a temporary directory and
//! stopped (by its PID) when the handle drops. Every test takes fresh
//! databases from it, so tests never see each other's rows.
//!
//! Nothing is skipped: without PostgreSQL the test fails and says how to
//! install it. Included with `#[path]` by `tests/postgres.rs` and by the
//! store's unit tests, so it depends on nothing else in `tests/common`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running PostgreSQL to take databases from.
pub struct Pg {
    /// Connection string of the maintenance database.
    pub admin_url: String,
    /// The throwaway cluster's directory (None with `$DATABASE_URL`).
    cluster: Option<PathBuf>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-throwaway.sh")
}

impl Pg {
    /// Uses `$DATABASE_URL` or starts a throwaway cluster.
    pub fn start() -> Pg {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                return Pg {
                    admin_url: url,
                    cluster: None,
                };
            }
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dittofs-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run scripts/pg-throwaway.sh");
        assert!(
            out.status.success(),
            "cannot start a throwaway PostgreSQL (set DATABASE_URL, or run \
             scripts/install-test-deps.sh to install the postgresql package): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let admin_url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Pg {
            admin_url,
            cluster: Some(dir),
        }
    }

    /// The connection string of database `db` on this server.
    pub fn url_for(&self, db: &str) -> String {
        let base = &self.admin_url;
        if base.starts_with("postgres://") || base.starts_with("postgresql://") {
            let (head, query) = match base.split_once('?') {
                Some((h, q)) => (h, Some(q)),
                None => (base.as_str(), None),
            };
            let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
            let host_end = head[scheme_end..]
                .find('/')
                .map(|i| i + scheme_end)
                .unwrap_or(head.len());
            let mut url = format!("{}/{db}", &head[..host_end]);
            if let Some(q) = query {
                url.push('?');
                url.push_str(q);
            }
            url
        } else {
            format!("{base} dbname={db}")
        }
    }

    /// Creates a new empty database and returns its connection string.
    pub fn fresh_db(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "dittofs_t{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = postgres::Client::connect(&self.admin_url, postgres::NoTls)
            .expect("connect to the PostgreSQL maintenance database");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        self.url_for(&name)
    }

    /// Stops the server keeping its data (`pg_ctl stop -m fast`); throwaway clusters only.
    pub fn pause(&self) {
        self.ctl("pause");
    }

    /// Starts a paused server again on the same port.
    pub fn resume(&self) {
        self.ctl("resume");
    }

    /// Whether this is a throwaway cluster (pause/resume possible).
    pub fn is_throwaway(&self) -> bool {
        self.cluster.is_some()
    }

    fn ctl(&self, what: &str) {
        let dir = self
            .cluster
            .as_ref()
            .expect("pause/resume needs a throwaway cluster (unset DATABASE_URL)");
        let out = Command::new(script())
            .arg(what)
            .arg(dir)
            .output()
            .expect("run scripts/pg-throwaway.sh");
        assert!(
            out.status.success(),
            "pg-throwaway.sh {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster {
            let _ = Command::new(script()).arg("stop").arg(dir).status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
