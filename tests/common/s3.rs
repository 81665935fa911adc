//! A real S3-protocol server for the tests: moto's `moto_server`, started on a free
//! loopback port, waited for (bounded), and killed by PID on drop.
//!
//! scripts/install-test-deps.sh installs it into the test venv; the binary is
//! `$DITTOFS_MOTO_SERVER` when set, else `$VENV/bin/moto_server` where VENV is
//! `$DITTOFS_TEST_VENV` or the install script's default. A missing binary fails the
//! test with the command to run: these tests never skip silently.
//! Buckets are created, and moto's authentication switched on, with plain HTTP
//! requests (moto accepts unsigned requests while authentication is off).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::{free_port, TempDir};

/// How long moto may take to answer its first request.
pub const MOTO_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the moto server binary is expected.
pub fn moto_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DITTOFS_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = match std::env::var_os("DITTOFS_TEST_VENV").filter(|p| !p.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => {
            let cache = match std::env::var_os("DITTOFS_TEST_CACHE").filter(|p| !p.is_empty()) {
                Some(c) => PathBuf::from(c),
                None => {
                    let base = std::env::var_os("XDG_CACHE_HOME")
                        .filter(|p| !p.is_empty())
                        .map(PathBuf::from)
                        .unwrap_or_else(|| {
                            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                                .join(".cache")
                        });
                    base.join("dittofs-tests")
                }
            };
            cache.join("venv")
        }
    };
    venv.join("bin").join("moto_server")
}

/// A running moto S3 server; killed (by PID) on drop.
pub struct MotoServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    pub log: PathBuf,
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> MotoServer {
        let bin = moto_server_bin();
        assert!(
            bin.is_file(),
            "moto_server not found at {} (set DITTOFS_MOTO_SERVER or run scripts/install-test-deps.sh)",
            bin.display()
        );
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&bin) {
                Ok(s) => return s,
                Err(e) => last = e,
            }
        }
        panic!("moto_server did not start: {last}");
    }

    fn try_start(bin: &PathBuf) -> Result<MotoServer, String> {
        let dir = TempDir::new("moto");
        let log = dir.path().join("moto.log");
        let log_file = std::fs::File::create(&log).expect("create moto log");
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let mut server = MotoServer {
            child: Some(child),
            port,
            dir,
            log,
        };
        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        loop {
            if let Ok((status, _)) = server.try_request("GET", "/moto-api/", b"") {
                if status < 500 {
                    return Ok(server);
                }
            }
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                server.child = None;
                return Err(format!("exited with {status}; log:\n{}", server.log_text()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer on port {port} after {MOTO_START_TIMEOUT:?}; log:\n{}",
                    server.log_text()
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends one plain HTTP/1.1 request; returns the status and body.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s =
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(body))
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
        let body_at = text.find("\r\n\r\n").map_or(answer.len(), |i| i + 4);
        Ok((status, answer[body_at.min(answer.len())..].to_vec()))
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} to moto: {e}"))
    }

    /// Creates `bucket` (while authentication is off).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", &format!("/{bucket}"), b"");
        assert_eq!(
            status,
            200,
            "create bucket {bucket}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// From now on every request must be signed with credentials moto's IAM knows
    /// (none are created, so every S3 request is refused with 403).
    pub fn enable_auth(&self) {
        let (status, body) = self.request("POST", "/moto-api/reset-auth", b"0");
        assert_eq!(
            status,
            200,
            "reset-auth: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// Kills the server (SIGKILL, by PID) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.kill();
    }
}
