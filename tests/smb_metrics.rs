//! `/metrics` after real `smbclient` runs against the server: SMB requests
//! per command, errors by NTSTATUS, latency histograms, file bytes read and
//! written, and connections accepted move by exactly what the runs did.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{add_smb_user, free_port, lmdb_config, require_tool, run_bounded, Server, TempDir};

const USER: &str = "alice";
const PASSWORD: &str = "Secr3t-pass";
const FILE_BYTES: usize = 300_000;

fn scrape(port: u16) -> BTreeMap<String, f64> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read response");
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("number")))
        .collect()
}

fn get(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

fn smb(op: &str) -> String {
    format!("dittofs_requests_total{{protocol=\"smb\",op=\"{op}\"}}")
}

fn accepted(m: &BTreeMap<String, f64>) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with("dittofs_connections_accepted_total"))
        .map(|(_, v)| v)
        .sum()
}

/// One smbclient run; returns its output.
fn smbclient(port: u16, cwd: &Path, cmds: &str) -> String {
    let out = run_bounded(
        Command::new("smbclient")
            .current_dir(cwd)
            .arg("//127.0.0.1/export")
            .arg("-p")
            .arg(port.to_string())
            .arg("-U")
            .arg(format!("{USER}%{PASSWORD}"))
            .arg("-c")
            .arg(cmds),
        Duration::from_secs(120),
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn metrics_count_the_smb_operations_performed() {
    require_tool("smbclient", "smbclient");
    let data = TempDir::new("smb-metrics");
    add_smb_user(data.path(), USER, PASSWORD, 1000);
    let (smb_port, metrics_port) = (free_port(), free_port());
    let _server = Server::start_on_data(data.path(), move |port, dir| {
        format!(
            "{}\n[adapters.smb]\nenabled = true\nport = {smb_port}\n\n[api]\nport = 0\n\n\
             [metrics]\nport = {metrics_port}\n",
            lmdb_config(port, dir)
        )
    });
    let work = TempDir::new("smb-metrics-work");
    let local = work.path();
    std::fs::write(local.join("up.bin"), vec![7u8; FILE_BYTES]).unwrap();

    // The harness's readiness probe (an NFS connection) may still be being
    // accepted: let the connection counters settle first.
    std::thread::sleep(Duration::from_millis(500));
    let before = scrape(metrics_port);
    let out = smbclient(smb_port, local, "put up.bin f.bin");
    assert!(!out.contains("NT_STATUS_"), "{out}");
    let out = smbclient(smb_port, local, "get f.bin down.bin");
    assert!(!out.contains("NT_STATUS_"), "{out}");
    let out = smbclient(smb_port, local, "get missing.bin x.bin");
    assert!(out.contains("NT_STATUS_OBJECT_NAME_NOT_FOUND"), "{out}");
    // The server records a request after its response is built; the last
    // run's LOGOFF may still be in flight when smbclient exits.
    std::thread::sleep(Duration::from_millis(300));
    let after = scrape(metrics_port);
    let delta = |series: &str| get(&after, series) - get(&before, series);

    assert_eq!(
        delta("dittofs_written_bytes_total{protocol=\"smb\"}"),
        FILE_BYTES as f64
    );
    assert_eq!(
        delta("dittofs_read_bytes_total{protocol=\"smb\"}"),
        FILE_BYTES as f64
    );
    // Three runs: one connection, tree connect and (two-leg NTLM) two
    // session setups each.
    assert_eq!(delta(&smb("TREE_CONNECT")), 3.0);
    assert_eq!(delta(&smb("SESSION_SETUP")), 6.0);
    assert_eq!(accepted(&after) - accepted(&before), 3.0);
    assert!(delta(&smb("WRITE")) >= 1.0 && delta(&smb("READ")) >= 1.0);
    // One CREATE of the missing file failed; nothing else did.
    let errors: Vec<(&String, f64)> = after
        .iter()
        .filter(|(k, _)| k.starts_with("dittofs_request_errors_total{protocol=\"smb\""))
        .map(|(k, v)| (k, v - get(&before, k)))
        .filter(|(_, d)| *d != 0.0)
        .collect();
    assert_eq!(
        errors,
        vec![(
            &"dittofs_request_errors_total{protocol=\"smb\",op=\"CREATE\",status=\"STATUS_OBJECT_NAME_NOT_FOUND\"}"
                .to_owned(),
            1.0
        )],
        "SMB errors"
    );
    // Every counted request has a latency observation.
    for op in ["CREATE", "WRITE", "READ", "CLOSE", "TREE_CONNECT"] {
        let count =
            format!("dittofs_request_duration_seconds_count{{protocol=\"smb\",op=\"{op}\"}}");
        assert_eq!(delta(&count), delta(&smb(op)), "{op}");
    }
}
