//! End-to-end tests with libnfs-utils (`nfs-cp`, `nfs-ls`, `nfs-cat`), a client we did not
//! write, against the real `dittofs` binary. The tools must be installed
//! (scripts/install-test-deps.sh); a missing tool fails the test, it is not skipped.

mod common;

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{require_tool, run_bounded, Server, TempDir};

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
const BIG_TIMEOUT: Duration = Duration::from_secs(300);

fn tool(name: &str) -> Command {
    require_tool(name, "libnfs-utils");
    Command::new(name)
}

fn ok(out: Output, what: &str, server: &Server) -> Output {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout: {}\nstderr: {}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    out
}

fn nfs_cp(server: &Server, src: &str, dst: &str, limit: Duration) -> Output {
    let out = run_bounded(tool("nfs-cp").arg(src).arg(dst), limit);
    ok(out, &format!("nfs-cp {src} {dst}"), server)
}

/// Writes `len` pseudo-random bytes (xorshift64*, fixed seed) to `path`.
fn write_random(path: &Path, len: usize, seed: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(path).expect("create"));
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        let n = left.min(buf.len());
        w.write_all(&buf[..n]).expect("write");
        left -= n;
    }
    w.flush().expect("flush");
}

/// Compares two files chunk by chunk; reports the first differing offset.
fn assert_same_file(a: &Path, b: &Path) {
    let (la, lb) = (
        fs::metadata(a).expect("stat a").len(),
        fs::metadata(b).expect("stat b").len(),
    );
    assert_eq!(la, lb, "{} and {} differ in size", a.display(), b.display());
    let (mut fa, mut fb) = (
        fs::File::open(a).expect("open a"),
        fs::File::open(b).expect("open b"),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut off = 0u64;
    loop {
        let n = fa.read(&mut ba).expect("read a");
        if n == 0 {
            break;
        }
        fb.read_exact(&mut bb[..n]).expect("read b");
        if ba[..n] != bb[..n] {
            let i = (0..n).find(|&i| ba[i] != bb[i]).unwrap_or(0);
            panic!("files differ at byte {}", off + i as u64);
        }
        off += n as u64;
    }
}

#[test]
fn nfs_cp_256_mib_roundtrip_is_byte_identical() {
    let server = Server::start();
    let tmp = TempDir::new("libnfs-big");
    let src = tmp.path().join("src.bin");
    let back = tmp.path().join("back.bin");
    write_random(&src, 256 << 20, 0x5eed_0001);

    let t = Instant::now();
    nfs_cp(
        &server,
        src.to_str().unwrap(),
        &server.nfs_url("big.bin"),
        BIG_TIMEOUT,
    );
    let up = t.elapsed();
    let t = Instant::now();
    nfs_cp(
        &server,
        &server.nfs_url("big.bin"),
        back.to_str().unwrap(),
        BIG_TIMEOUT,
    );
    let down = t.elapsed();
    eprintln!("nfs-cp 256 MiB: write {up:?}, read {down:?}");
    assert_same_file(&src, &back);
}

#[test]
fn nfs_ls_lists_created_entries() {
    let server = Server::start();
    let tmp = TempDir::new("libnfs-ls");
    let names = ["alpha.txt", "beta.bin", "with space.txt", "ünïcode.txt"];
    for (i, name) in names.iter().enumerate() {
        let p = tmp.path().join(format!("f{i}"));
        fs::write(&p, vec![b'x'; 1000 * (i + 1)]).expect("write");
        nfs_cp(
            &server,
            p.to_str().unwrap(),
            &server.nfs_url(name),
            TOOL_TIMEOUT,
        );
    }
    let out = run_bounded(tool("nfs-ls").arg(server.nfs_url("")), TOOL_TIMEOUT);
    let out = ok(out, "nfs-ls", &server);
    let listing = String::from_utf8_lossy(&out.stdout);
    for (i, name) in names.iter().enumerate() {
        let line = listing
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing from nfs-ls output:\n{listing}"));
        assert!(
            line.contains(&(1000 * (i + 1)).to_string()),
            "size of {name} not in {line:?}"
        );
        assert!(
            line.starts_with('-'),
            "{name} is not a regular file: {line:?}"
        );
    }
}

#[test]
fn nfs_cat_prints_a_small_file_and_fails_on_a_missing_one() {
    let server = Server::start();
    let tmp = TempDir::new("libnfs-cat");
    let p = tmp.path().join("hello.txt");
    let text = "hello from dittofs\nsecond line\n";
    fs::write(&p, text).expect("write");
    nfs_cp(
        &server,
        p.to_str().unwrap(),
        &server.nfs_url("hello.txt"),
        TOOL_TIMEOUT,
    );

    let out = run_bounded(
        tool("nfs-cat").arg(server.nfs_url("hello.txt")),
        TOOL_TIMEOUT,
    );
    let out = ok(out, "nfs-cat", &server);
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);

    let out = run_bounded(
        tool("nfs-cat").arg(server.nfs_url("no-such-file")),
        TOOL_TIMEOUT,
    );
    assert!(
        !out.status.success(),
        "nfs-cat of a missing file succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn sigterm_after_traffic_exits_zero() {
    let mut server = Server::start();
    let out = run_bounded(tool("nfs-ls").arg(server.nfs_url("")), TOOL_TIMEOUT);
    ok(out, "nfs-ls", &server);
    let pid = server.pid();
    let (status, killed) = server.stop();
    assert!(
        !killed,
        "dittofs (pid {pid}) did not exit within {:?} of SIGTERM",
        common::STOP_TIMEOUT
    );
    assert!(
        status.success(),
        "dittofs exited with {status} on SIGTERM (want 0); log:\n{}",
        server.log_text()
    );
}

#[test]
fn a_second_server_on_a_busy_port_exits_1_with_a_clear_message() {
    let server = Server::start();
    let dir = common::TempDir::new("busy");
    let conf = dir.path().join("dittofs.toml");
    std::fs::write(&conf, common::memory_config(server.port, dir.path())).expect("write config");
    let out = run_bounded(
        Command::new(common::dittofs_bin())
            .arg("start")
            .arg("--config")
            .arg(&conf),
        TOOL_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("already in use") && stderr.contains(&server.port.to_string()),
        "stderr should say the port is in use:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr:\n{stderr}");
}

#[test]
fn embedded_default_serves_export_and_prints_the_mount_command() {
    // No config file anywhere: HOME points at an empty directory.
    let home = common::TempDir::new("home");
    let port = common::free_port();
    let mut server = Server::start_command(
        Command::new(common::dittofs_bin())
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            // The embedded default stores under the data dir: keep it inside HOME.
            .env_remove("XDG_DATA_HOME")
            .env_remove("STATE_DIRECTORY")
            .env_remove("INVOCATION_ID")
            .env_remove("NOTIFY_SOCKET")
            .args([
                "start",
                "--listen",
                "127.0.0.1",
                "--cores",
                "1",
                "--nfs-port",
            ])
            .arg(port.to_string()),
        port,
    );
    let out = run_bounded(tool("nfs-ls").arg(server.nfs_url("")), TOOL_TIMEOUT);
    ok(out, "nfs-ls on the embedded default", &server);
    let log = server.log_text();
    assert!(
        log.contains(&format!(
            "mount -t nfs -o vers=3,proto=tcp,port={port},mountport={port},nolock 127.0.0.1:/export /mnt"
        )),
        "the mount command is missing from the output:\n{log}"
    );
    let (status, killed) = server.stop();
    assert!(
        !killed && status.success(),
        "exit {status}; log:\n{}",
        server.log_text()
    );
}
