//! Shared helpers for the integration tests: start the real `dittofs` binary on a free
//! loopback port with a config written to a fresh temporary directory, wait until it
//! accepts TCP, and stop it by PID (SIGTERM, bounded wait, then SIGKILL) on drop.
//!
//! The binary is `$DITTOFS_BIN` when set (scripts/test.sh sets it to the release build),
//! else the one cargo built for this test (`CARGO_BIN_EXE_dittofs`).
#![allow(dead_code)]

pub mod nfs_client;
pub mod restart_cookies;

use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long the server may take to accept its first TCP connection.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The dittofs binary under test.
pub fn dittofs_bin() -> PathBuf {
    match std::env::var_os("DITTOFS_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_dittofs")),
    }
}

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "dittofs-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// `config` with the admin API and metrics endpoints off unless it configures
/// them itself: their default ports are fixed, and servers of tests running
/// in parallel would fight over them.
pub fn without_fixed_ports(mut config: String) -> String {
    for table in ["api", "metrics"] {
        if !config.contains(&format!("[{table}]")) {
            config.push_str(&format!("\n[{table}]\nport = 0\n"));
        }
    }
    config
}

/// The config the tests run with: memory stores, one share `/export` (mode 0777, no squash).
pub fn memory_config(port: u16, data_dir: &Path) -> String {
    format!(
        r#"data_dir = "{data_dir}"
listen = "127.0.0.1"
cores = 2

# Small WAL segments: the default (64 MiB x 4 per core) is zero-filled at
# first start, too slow and big for test servers.
[wal]
segment_bytes = 4194304
segments_per_core = 4

[adapters.nfs]
port = {port}

[metadata_stores.default]
type = "memory"

[block_stores.default]
type = "memory"

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
"#,
        data_dir = data_dir.display()
    )
}

/// Like [`memory_config`] but on the persistent defaults: an LMDB metadata store
/// and a filesystem block store under `data_dir`.
pub fn lmdb_config(port: u16, data_dir: &Path) -> String {
    memory_config(port, data_dir)
        .replace(
            "[metadata_stores.default]\ntype = \"memory\"",
            "[metadata_stores.default]\ntype = \"lmdb\"",
        )
        .replace(
            "[block_stores.default]\ntype = \"memory\"",
            "[block_stores.default]\ntype = \"filesystem\"",
        )
}

/// A running `dittofs start` process; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    pub log: PathBuf,
}

impl Server {
    /// Starts the binary with the default memory config on a free port.
    pub fn start() -> Server {
        Self::start_with(memory_config)
    }

    /// Starts the binary with the config `make_config(port, data_dir)` returns.
    pub fn start_with(make_config: impl Fn(u16, &Path) -> String) -> Server {
        // A port picked free can be taken before the server binds it; try a few.
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::try_start(&make_config) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("dittofs did not start: {last_err}");
    }

    /// Starts the binary with data directory `data` (kept by the caller, so a
    /// later server can restart on the same stores).
    pub fn start_on_data(data: &Path, make_config: impl Fn(u16, &Path) -> String) -> Server {
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::try_start_at(&make_config, Some(data)) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("dittofs did not start: {last_err}");
    }

    /// Kills the server with SIGKILL (by PID) and reaps it: a crash.
    pub fn kill(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server already stopped");
        signal(child.id(), libc::SIGKILL);
        child.wait().expect("wait after SIGKILL")
    }

    fn try_start(make_config: &impl Fn(u16, &Path) -> String) -> Result<Server, String> {
        Self::try_start_at(make_config, None)
    }

    fn try_start_at(
        make_config: &impl Fn(u16, &Path) -> String,
        data: Option<&Path>,
    ) -> Result<Server, String> {
        let dir = TempDir::new("server");
        let port = free_port();
        let data = match data {
            Some(d) => d.to_path_buf(),
            None => dir.path().join("data"),
        };
        fs::create_dir_all(&data).expect("create data dir");
        let conf = dir.path().join("dittofs.toml");
        fs::write(&conf, without_fixed_ports(make_config(port, &data))).expect("write config");
        let log = dir.path().join("server.log");
        let log_file = fs::File::create(&log).expect("create server log");
        let bin = dittofs_bin();
        let child = Command::new(&bin)
            .arg("start")
            .arg("--config")
            .arg(&conf)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let mut server = Server {
            child: Some(child),
            port,
            dir,
            log,
        };
        match server.wait_listening() {
            Ok(()) => Ok(server),
            Err(e) => Err(e),
        }
    }

    /// Starts `cmd` (a full `dittofs start …` command line) expected to listen on
    /// 127.0.0.1:`port`; its output goes to the server log. Panics if it does not come up.
    pub fn start_command(cmd: &mut Command, port: u16) -> Server {
        // The admin API (8080) and metrics (9090) ports are fixed by default:
        // servers of tests running in parallel would fight over them.
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if args.iter().any(|a| a == "start") {
            for flag in ["--api-port", "--metrics-port"] {
                if !args.iter().any(|a| a == flag) {
                    cmd.arg(flag).arg("0");
                }
            }
        }
        let dir = TempDir::new("server");
        let log = dir.path().join("server.log");
        let log_file = fs::File::create(&log).expect("create server log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file)
            .spawn()
            .expect("run dittofs");
        let mut server = Server {
            child: Some(child),
            port,
            dir,
            log,
        };
        if let Err(e) = server.wait_listening() {
            panic!("dittofs did not start: {e}");
        }
        server
    }

    /// Waits (bounded) until the server accepts TCP on its port.
    fn wait_listening(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                let log = self.log_text();
                self.child = None;
                return Err(format!("exited early with {status}; log:\n{log}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no TCP listener on {addr} after {START_TIMEOUT:?}; log:\n{}",
                    self.log_text()
                ));
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("server already stopped")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server already stopped").id()
    }

    /// The server's stdout and stderr so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// libnfs URL of `path` (relative to the export) on this server.
    pub fn nfs_url(&self, path: &str) -> String {
        let p = self.port;
        format!(
            "nfs://127.0.0.1/export/{}?nfsport={p}&mountport={p}&version=3",
            path.trim_start_matches('/')
        )
    }

    /// Sends SIGTERM and waits (bounded) for the exit; SIGKILL after STOP_TIMEOUT.
    /// Returns the exit status and whether SIGKILL was needed.
    pub fn stop(&mut self) -> (ExitStatus, bool) {
        let mut child = self.child.take().expect("server already stopped");
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return (status, false);
            }
            if Instant::now() > deadline {
                let _ = child.kill(); // SIGKILL, by PID
                return (child.wait().expect("wait after SIGKILL"), true);
            }
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            let (_status, killed) = self.stop();
            if killed {
                eprintln!("dittofs (port {}) needed SIGKILL after SIGTERM", self.port);
            }
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; `pid` is our own
    // child, not yet reaped (we hold its `Child` and have not waited on it successfully).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Panics with an actionable message when an external tool is not installed.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed (Debian package {package}); run scripts/install-test-deps.sh"
    );
}

/// Runs a command with a wall-clock limit; kills it (by PID) when the limit passes.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| match e.kind() {
            ErrorKind::NotFound => panic!("{desc}: command not found ({e})"),
            _ => panic!("{desc}: {e}"),
        });
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{desc}: still running after {limit:?}, killed");
        }
        sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().expect("stdout reader"),
        stderr: t_err.join().expect("stderr reader"),
    }
}

/// Adds an SMB-capable user `name` (`password`, `uid`) through the real CLI
/// (`dittofs user add --password-stdin`) to the LMDB store under `data_dir`;
/// the server must not be running on it. Cheap bcrypt for tests.
pub fn add_smb_user(data_dir: &Path, name: &str, password: &str, uid: u32) {
    use std::io::Write;
    let conf = data_dir.join("users.toml");
    fs::write(
        &conf,
        lmdb_config(free_port(), data_dir) + "\n[identity]\nbcrypt_cost = 4\n",
    )
    .expect("write config");
    let mut child = Command::new(dittofs_bin())
        .args(["user", "add", name, "--uid", &uid.to_string()])
        .arg("--password-stdin")
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dittofs user add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("wait dittofs user add");
    assert!(out.status.success(), "user add: {out:?}");
}
