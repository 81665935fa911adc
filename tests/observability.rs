//! The operator's HTTP side of the real binary: `/metrics` moves by exactly
//! the NFS operations performed, `/health` and `/ready` (ready only once NFS
//! accepts), admin API auth failures and a token from `dittofs admin token
//! create`, and the Grafana dashboard only names metrics the server exports.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::nfs_client::NfsClient;
use common::{dittofs_bin, free_port, memory_config, run_bounded, Server};

/// One HTTP request to 127.0.0.1:`port`; returns (status, body).
fn http(port: u16, method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read response");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// Samples of a text exposition: `name{labels}` → value; and family names.
fn scrape(port: u16) -> (BTreeMap<String, f64>, BTreeSet<String>) {
    let (status, text) = http(port, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    let mut samples = BTreeMap::new();
    let mut families = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.insert(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        samples.insert(series.to_owned(), value.parse().expect("number"));
    }
    (samples, families)
}

fn get(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

fn nfs(op: &str) -> String {
    format!("dittofs_requests_total{{protocol=\"nfs\",op=\"{op}\"}}")
}

fn config_with(api: u16, metrics: u16) -> impl Fn(u16, &Path) -> String {
    move |port, dir| {
        format!(
            "{}\n[api]\nport = {api}\n\n[metrics]\nport = {metrics}\n",
            memory_config(port, dir)
        )
    }
}

#[test]
fn metrics_count_exactly_the_nfs_operations_performed() {
    let (api, metrics) = (free_port(), free_port());
    let server = Server::start_with(config_with(api, metrics));
    let (before, _) = scrape(metrics);
    let mut c = NfsClient::connect(server.port).expect("mount");
    let files = 7;
    let mut handles = Vec::new();
    for i in 0..files {
        let fh = c.create(c.root, &format!("f{i}")).unwrap().expect("create");
        handles.push(fh);
    }
    for fh in &handles {
        c.getattr(*fh).unwrap().expect("getattr");
    }
    let data = vec![0x5a; 10_000];
    assert_eq!(c.write_sync(handles[0], 0, &data).unwrap(), Ok(10_000));
    assert_eq!(c.read(handles[0], 0, 4000).unwrap().unwrap().len(), 4000);
    for _ in 0..3 {
        assert!(c.lookup(c.root, "missing").unwrap().is_err());
    }
    let (after, families) = scrape(metrics);
    let delta = |s: &str| get(&after, s) - get(&before, s);
    assert_eq!(delta(&nfs("CREATE")), files as f64);
    assert_eq!(delta(&nfs("GETATTR")), files as f64);
    assert_eq!(delta(&nfs("WRITE")), 1.0);
    assert_eq!(delta(&nfs("READ")), 1.0);
    assert_eq!(delta(&nfs("LOOKUP")), 3.0);
    assert_eq!(
        delta(r#"dittofs_request_errors_total{protocol="nfs",op="LOOKUP",status="NOENT"}"#),
        3.0
    );
    assert_eq!(
        delta(r#"dittofs_requests_total{protocol="mount",op="MNT"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"dittofs_written_bytes_total{protocol="nfs"}"#),
        10_000.0
    );
    assert_eq!(delta(r#"dittofs_read_bytes_total{protocol="nfs"}"#), 4000.0);
    assert_eq!(
        delta(r#"dittofs_request_duration_seconds_count{protocol="nfs",op="CREATE"}"#),
        files as f64
    );
    // The FILE_SYNC write went through the WAL of its owner shard.
    let shard_sum = |m: &BTreeMap<String, f64>, name: &str| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(&format!("{name}{{shard=")))
            .map(|(_, v)| v)
            .sum()
    };
    assert!(
        shard_sum(&after, "dittofs_wal_appends_total")
            - shard_sum(&before, "dittofs_wal_appends_total")
            >= 1.0
    );
    assert!(
        shard_sum(&after, "dittofs_wal_fsyncs_total")
            - shard_sum(&before, "dittofs_wal_fsyncs_total")
            >= 1.0
    );
    assert!(delta(r#"dittofs_metadata_op_duration_seconds_count{op="create"}"#) >= files as f64);
    let open: f64 = (0..2)
        .map(|core| get(&after, &format!("dittofs_connections{{core=\"{core}\"}}")))
        .sum();
    assert_eq!(open, 1.0, "one NFS connection open");
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (m, _) = scrape(metrics);
        let open: f64 = (0..2)
            .map(|core| get(&m, &format!("dittofs_connections{{core=\"{core}\"}}")))
            .sum();
        if open == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connection gauge stuck at {open}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The Grafana dashboard parses and names only exported metric families.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/grafana/dittofs.json"
        ))
        .expect("read dashboard"),
    )
    .expect("dashboard is JSON");
    let mut named = BTreeSet::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let mut rest = expr;
            while let Some(i) = rest.find("dittofs_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                named.insert(tail[..end].to_owned());
                rest = &tail[end..];
            }
        }
    }
    assert!(named.len() >= 20, "dashboard names only {named:?}");
    for name in &named {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| families.contains(*f)))
            .unwrap_or(name);
        assert!(
            families.contains(family),
            "dashboard uses {name}, which the server does not export"
        );
    }
}

#[test]
fn ready_only_once_nfs_accepts_and_health_always() {
    let (api, metrics, nfs_port) = (free_port(), free_port(), free_port());
    let dir = common::TempDir::new("ready");
    let conf = dir.path().join("c.toml");
    std::fs::write(
        &conf,
        config_with(api, metrics)(nfs_port, &dir.path().join("data")),
    )
    .unwrap();
    let mut cmd = Command::new(dittofs_bin());
    cmd.arg("start").arg("--config").arg(&conf);
    let mut seen_ready = false;
    let server = {
        // Poll /ready from the moment the process starts: every 200 must come
        // when the NFS port already accepts.
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && !seen_ready {
            if TcpStream::connect(("127.0.0.1", api)).is_ok() {
                let (status, body) = http(api, "GET", "/ready", None, "");
                if status == 200 {
                    assert!(
                        TcpStream::connect(("127.0.0.1", nfs_port)).is_ok(),
                        "/ready said 200 before NFS accepted"
                    );
                    seen_ready = true;
                } else {
                    assert_eq!(status, 503, "{body}");
                }
                assert_eq!(http(api, "GET", "/health", None, "").0, 200);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child
    };
    let mut child = server;
    assert!(seen_ready, "never ready");
    let (status, body) = http(api, "GET", "/api/v1/status", None, "");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cores"], 2);
    assert_eq!(v["ready"], true);
    assert_eq!(v["stores"].as_array().unwrap().len(), 2);
    assert!(v["stores"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["healthy"] == true));
    let (status, body) = http(api, "GET", "/api/v1/shares", None, "");
    assert_eq!(status, 200);
    assert!(body.contains("\"/export\""));
    // Stop it: SIGTERM to our own child by PID (kill(1)), then reap it.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

#[test]
fn admin_api_refuses_bad_credentials_and_accepts_a_created_token() {
    let (api, metrics) = (free_port(), free_port());
    let server = Server::start_with(config_with(api, metrics));
    let body = r#"{"name":"alice","password":"pw"}"#;
    assert_eq!(http(api, "POST", "/api/v1/users", None, body).0, 401);
    let wrong = "Bearer dfs_0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(http(api, "POST", "/api/v1/users", Some(wrong), body).0, 401);
    assert_eq!(
        http(
            api,
            "POST",
            "/api/v1/users",
            Some("Basic YWRtaW46bm9wZQ=="),
            body
        )
        .0,
        401
    );
    let out = run_bounded(
        Command::new(dittofs_bin())
            .args(["admin", "token", "create", "--name", "ci", "--config"])
            .arg(server.dir.path().join("dittofs.toml")),
        Duration::from_secs(20),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("dfs_"), "{token}");
    let stored = std::fs::read_to_string(server.dir.path().join("data/admin-tokens")).unwrap();
    assert!(!stored.contains(&token[4..]), "the token itself is stored");
    // Accepted: the request reaches the identity operations and creates the user.
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/users",
        Some(&format!("Bearer {token}")),
        r#"{"name":"alice","password":"pw"}"#,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        http(
            api,
            "POST",
            "/api/v1/users",
            Some(&format!("Bearer {token}")),
            "{bad json"
        )
        .0,
        400
    );
    let log = server.log_text();
    assert!(log.contains("401"), "refusals are logged: {log}");
    assert!(
        !log.contains(&wrong[7..]),
        "the presented secret is not logged"
    );
}
