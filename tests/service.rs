//! Running as a service, through the real binary: the sd_notify protocol
//! against a real unix datagram socket (READY=1 only once the port accepts,
//! WATCHDOG=1 while the cores live, STOPPING=1 on SIGTERM), rate limiting
//! measured with the test NFS client, and SIGHUP reloading a rate limit and
//! the log level on a live connection.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::nfs_client::NfsClient;
use common::{dittofs_bin, free_port, memory_config, Server, TempDir};

const WAIT: Duration = Duration::from_secs(60);

fn recv_until(socket: &UnixDatagram, want: &str, deadline: Instant) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(deadline.saturating_duration_since(Instant::now())))
            .unwrap();
        let Ok(n) = socket.recv(&mut buf) else { break };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = msg.lines().any(|l| l == want);
        seen.push(msg);
        if done {
            break;
        }
    }
    seen
}

fn start(dir: &TempDir, config: &str, port: u16, envs: &[(&str, &str)]) -> Server {
    let conf = dir.path().join("dittofs.toml");
    fs::write(&conf, config).unwrap();
    let mut cmd = Command::new(dittofs_bin());
    cmd.arg("start").arg("--config").arg(&conf);
    cmd.env_remove("RUST_LOG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Server::start_command(&mut cmd, port)
}

fn wait_for_log(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = server.log_text();
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{log}"
        );
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn notify_ready_only_once_listening_then_watchdog_and_stopping() {
    let dir = TempDir::new("notify");
    let sock_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&sock_path).unwrap();
    let port = free_port();
    let listener = socket.try_clone().unwrap();
    // Watches the socket from before the start: when READY=1 arrives, the
    // port must already accept connections.
    let watcher = std::thread::spawn(move || {
        let seen = recv_until(&listener, "READY=1", Instant::now() + WAIT);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let connected = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok();
        (seen, connected)
    });
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let mut server = start(
        &dir,
        &memory_config(port, &data),
        port,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let (seen, connected) = watcher.join().unwrap();
    assert!(
        seen.last().is_some_and(|m| m.starts_with("READY=1")),
        "no READY=1: {seen:?}"
    );
    assert!(
        seen.iter().all(|m| !m.contains("WATCHDOG=1")),
        "watchdog before ready: {seen:?}"
    );
    assert!(connected, "READY=1 came before the port accepted");
    // WATCHDOG_USEC=400ms: a ping every 200 ms while the cores beat.
    let pings = (0..3)
        .map(|_| {
            recv_until(
                &socket,
                "WATCHDOG=1",
                Instant::now() + Duration::from_secs(10),
            )
        })
        .filter(|s| s.last().is_some_and(|m| m == "WATCHDOG=1"))
        .count();
    assert_eq!(pings, 3, "watchdog pings missing");
    let (status, killed) = server.stop();
    assert!(status.success() && !killed, "{status:?}");
    let seen = recv_until(&socket, "STOPPING=1", Instant::now() + WAIT);
    assert!(
        seen.iter().any(|m| m.starts_with("STOPPING=1")),
        "no STOPPING=1: {seen:?}"
    );
}

fn limited_config(port: u16, data: &Path, level: &str, limits: &str) -> String {
    format!(
        "{}\n[logging]\nlevel = \"{level}\"\n\n{limits}\n",
        memory_config(port, data)
    )
}

const RATE: u64 = 40;
const BURST: u64 = 5;

fn per_client(rate: u64, burst: u64) -> String {
    format!("[rate_limit.per_client]\nrequests_per_s = {rate}\nrequests_burst = {burst}\n")
}

/// K GETATTRs on one connection; every one must succeed.
fn getattrs(client: &mut NfsClient, k: u64) -> Duration {
    let t0 = Instant::now();
    for i in 0..k {
        let r = client.getattr(client.root).expect("getattr I/O");
        assert!(r.is_ok(), "request {i} failed: {r:?}");
    }
    t0.elapsed()
}

#[test]
fn over_the_limit_a_client_is_slowed_never_refused() {
    let dir = TempDir::new("ratelimit");
    let port = free_port();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let server = start(
        &dir,
        &limited_config(port, &data, "info", &per_client(RATE, BURST)),
        port,
        &[],
    );
    let mut client = NfsClient::connect(port).unwrap();
    let k = 85;
    let elapsed = getattrs(&mut client, k);
    // The mount's own calls took from the burst too, so this is a lower bound.
    let floor = Duration::from_secs_f64((k - BURST) as f64 / RATE as f64);
    assert!(
        elapsed >= floor.mul_f64(0.95),
        "{k} requests at {RATE}/s (burst {BURST}) took {elapsed:?}, expected at least {floor:?}"
    );
    let log = server.log_text();
    let lines = log.matches("throttling client 127.0.0.1").count();
    assert_eq!(
        lines, 1,
        "throttle log line not rate-limited to one:\n{log}"
    );
}

#[test]
fn a_client_with_connections_on_several_cores_gets_the_limit_once() {
    // 4 connections from one address to a 2-core server: the kernel spreads
    // them over the cores (with per-core buckets each core gave its own
    // rate, and the aggregate was up to 2 × the limit). The limit is per
    // client, so the requests of all connections together are paced at RATE.
    let dir = TempDir::new("ratelimit-conns");
    let port = free_port();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let _server = start(
        &dir,
        &limited_config(port, &data, "info", &per_client(RATE, BURST)),
        port,
        &[],
    );
    let (conns, k) = (4u64, 25u64);
    let mut clients: Vec<NfsClient> = (0..conns)
        .map(|_| NfsClient::connect(port).expect("connect"))
        .collect();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for c in clients.iter_mut() {
            s.spawn(move || getattrs(c, k));
        }
    });
    let elapsed = t0.elapsed();
    // The mounts took from the burst too, so this is a lower bound.
    let floor = Duration::from_secs_f64((conns * k - BURST) as f64 / RATE as f64);
    assert!(
        elapsed >= floor.mul_f64(0.9),
        "{conns} connections × {k} requests at {RATE}/s per client (burst {BURST}) took \
         {elapsed:?}, expected at least {floor:?}"
    );
}

#[test]
fn without_limits_nothing_is_throttled() {
    let dir = TempDir::new("nolimit");
    let port = free_port();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let server = start(&dir, &limited_config(port, &data, "info", ""), port, &[]);
    let mut client = NfsClient::connect(port).unwrap();
    getattrs(&mut client, 200);
    let log = server.log_text();
    assert!(!log.contains("throttling"), "{log}");
}

#[test]
fn sighup_reloads_limits_and_log_level_without_dropping_connections() {
    let dir = TempDir::new("reload");
    let port = free_port();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let server = start(
        &dir,
        &limited_config(port, &data, "info", &per_client(10, 1)),
        port,
        &[],
    );
    let mut client = NfsClient::connect(port).unwrap();
    // 10/s with burst 1: 11 requests take at least a second.
    let slow = getattrs(&mut client, 11);
    assert!(
        slow >= Duration::from_millis(900),
        "not throttled: {slow:?}"
    );
    assert!(!server.log_text().contains("connection from"));

    // New file: a much lower limit, debug logging, and a port change that needs a restart.
    let conf = dir.path().join("dittofs.toml");
    let other_port = free_port();
    fs::write(
        &conf,
        limited_config(other_port, &data, "debug", &per_client(2, 1)),
    )
    .unwrap();
    let pid = libc::pid_t::try_from(server.pid()).unwrap();
    // SAFETY: kill(2) takes plain integers; `pid` is our own running child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let log = wait_for_log(&server, "reload: ");
    let line = log.lines().find(|l| l.contains("reload: ")).unwrap();
    assert!(
        line.contains("applied: logging.level, rate_limit")
            && line.contains("needs a restart (running values kept): adapters.nfs"),
        "{line}"
    );
    // The same connection goes on, now at 2/s (burst 1): 4 requests take at
    // least 1.5 s, where the old 10/s would have taken 0.3 s.
    let elapsed = getattrs(&mut client, 4);
    assert!(
        elapsed >= Duration::from_millis(1400),
        "old limit still in force: {elapsed:?}"
    );
    // Debug lines now appear: a new connection is logged at debug level.
    let mut second = NfsClient::connect(port).unwrap();
    getattrs(&mut second, 1);
    wait_for_log(&server, "connection from");
}
