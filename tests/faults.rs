//! Storage faults through the real server (test-only knobs
//! `DITTOFS_TEST_WAL_FAULTS` and `DITTOFS_TEST_BLOCK_FAULTS`, see
//! src/runtime/faults.rs), on LMDB + filesystem blocks with one core so the
//! WAL's operation counts are deterministic. Each fault must end in a clear
//! NFS error or a delay, never a panic, and every byte the client got a
//! FILE_SYNC reply for must read back after a restart without the fault.
//! Also: a clean stop (SIGTERM) syncs and checkpoints the WAL, so the next
//! start replays nothing.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::nfs_client::NfsClient;
use common::{dittofs_bin, free_port, lmdb_config, Server, TempDir};
use dittofs::fs::Stability;
use dittofs::nfs::args::{NfsArgs, WriteArgs};
use dittofs::nfs::handle::WireHandle;
use dittofs::nfs::results::{Reply, WriteOk3};
use dittofs::nfs::status::Nfsstat3;
use dittofs::nfs::wire::WccData;

const CHUNK: usize = 64 << 10;

/// LMDB + filesystem blocks, one core, 1 MiB blocks and WAL segments.
fn config(port: u16, data: &Path) -> String {
    lmdb_config(port, data)
        .replace("cores = 2", "cores = 1")
        .replace("segment_bytes = 4194304", "segment_bytes = 1048576")
        .replace(
            "[adapters.nfs]",
            "[cache]\nblock_bytes = 1048576\nflush_delay_ms = 300\n\n[adapters.nfs]",
        )
}

/// Starts the server on `data` with extra environment variables.
fn start(data: &Path, conf_dir: &TempDir, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let conf = conf_dir.path().join(format!("dittofs-{port}.toml"));
    fs::write(&conf, config(port, data)).expect("write config");
    let mut cmd = Command::new(dittofs_bin());
    cmd.arg("start")
        .arg("--config")
        .arg(&conf)
        .env("RUST_LOG", "info")
        .env_remove("DITTOFS_TEST_WAL_FAULTS")
        .env_remove("DITTOFS_TEST_BLOCK_FAULTS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server::start_command(&mut cmd, port)
}

fn chunk(i: usize) -> Vec<u8> {
    (0..CHUNK).map(|b| (b * 13 + i * 101 + 7) as u8).collect()
}

/// Writes chunks 0..n with FILE_SYNC, in order, until one fails; returns the
/// acknowledged ones and the first error (status, or transport error text).
fn write_chunks(
    c: &mut NfsClient,
    fh: WireHandle,
    n: usize,
) -> (Vec<usize>, Option<Result<Nfsstat3, String>>) {
    let mut acked = Vec::new();
    for i in 0..n {
        match c.write_sync(fh, (i * CHUNK) as u64, &chunk(i)) {
            Ok(Ok(count)) => {
                assert_eq!(count as usize, CHUNK, "short FILE_SYNC write");
                acked.push(i);
            }
            Ok(Err(status)) => return (acked, Some(Ok(status))),
            Err(e) => return (acked, Some(Err(e.to_string()))),
        }
    }
    (acked, None)
}

fn create(c: &mut NfsClient, name: &str) -> WireHandle {
    c.create(c.root, name)
        .expect("create call")
        .expect("create")
}

fn lookup(c: &mut NfsClient, name: &str) -> WireHandle {
    c.lookup(c.root, name)
        .expect("lookup call")
        .expect("lookup")
        .object
}

/// Every acknowledged chunk reads back identical.
fn verify(c: &mut NfsClient, fh: WireHandle, acked: &[usize], log: &str) {
    for &i in acked {
        let got = c
            .read(fh, (i * CHUNK) as u64, CHUNK as u32)
            .expect("read call")
            .unwrap_or_else(|s| panic!("read of chunk {i}: {s:?}\n{log}"));
        assert!(
            got == chunk(i),
            "acknowledged chunk {i} differs after restart\n{log}"
        );
    }
}

/// The `replayed` counts of the recovery reports in a server log.
fn replayed(log: &str) -> Vec<usize> {
    log.lines()
        .filter_map(|l| l.split("replayed: ").nth(1))
        .filter_map(|r| {
            r.split(|ch: char| !ch.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Runs one fault: writes until the fault hits, checks the server is still
/// alive (unless it crashed on purpose), restarts without the fault and
/// reads every acknowledged chunk back.
fn fault_round(
    env: (&str, &str),
    chunks: usize,
) -> (Vec<usize>, Option<Result<Nfsstat3, String>>, String) {
    let data = TempDir::new("faults-data");
    let conf = TempDir::new("faults-conf");
    let mut server = start(data.path(), &conf, &[env]);
    let mut c = NfsClient::connect(server.port).expect("connect");
    let fh = create(&mut c, "f");
    let (acked, failure) = write_chunks(&mut c, fh, chunks);
    let first_log = server.log_text();
    assert!(
        !first_log.contains("panicked"),
        "server panicked:\n{first_log}"
    );
    if matches!(failure, Some(Ok(_))) {
        // A clear error, and the server still answers.
        c.getattr(fh)
            .expect("getattr call")
            .expect("getattr after the fault");
        let (_, killed) = server.stop();
        assert!(
            !killed,
            "server needed SIGKILL after the fault:\n{}",
            server.log_text()
        );
    } else {
        server.kill();
    }
    drop(c);
    let restarted = start(data.path(), &conf, &[]);
    let mut c = NfsClient::connect(restarted.port).expect("connect after restart");
    let fh = lookup(&mut c, "f");
    let log = format!(
        "first run:\n{first_log}\nrestart:\n{}",
        restarted.log_text()
    );
    verify(&mut c, fh, &acked, &log);
    (acked, failure, log)
}

#[test]
fn wal_fdatasync_error_is_an_io_error_and_never_acknowledged_again() {
    let (acked, failure, log) = fault_round(("DITTOFS_TEST_WAL_FAULTS", "sync_eio@3"), 8);
    assert_eq!(acked, vec![0, 1], "{log}");
    assert_eq!(failure, Some(Ok(Nfsstat3::Io)), "{log}");
    assert!(log.contains("WAL fdatasync failed"), "{log}");
}

#[test]
fn wal_fdatasync_error_fails_every_later_stable_write() {
    let data = TempDir::new("faults-data");
    let conf = TempDir::new("faults-conf");
    let mut server = start(
        data.path(),
        &conf,
        &[("DITTOFS_TEST_WAL_FAULTS", "sync_eio@2")],
    );
    let mut c = NfsClient::connect(server.port).expect("connect");
    let fh = create(&mut c, "f");
    let (acked, failure) = write_chunks(&mut c, fh, 4);
    assert_eq!((acked, failure), (vec![0], Some(Ok(Nfsstat3::Io))));
    // The next fdatasync would succeed on the disk, but the log is poisoned.
    for i in 1..4 {
        let r = c
            .write_sync(fh, (i * CHUNK) as u64, &chunk(i))
            .expect("write call");
        assert!(
            r.is_err(),
            "stable write {i} acknowledged after a failed fdatasync"
        );
    }
    server.stop();
}

#[test]
fn wal_enospc_is_nfs3err_nospc() {
    let (acked, failure, log) = fault_round(("DITTOFS_TEST_WAL_FAULTS", "enospc@3"), 8);
    assert_eq!(acked, vec![0, 1], "{log}");
    assert_eq!(failure, Some(Ok(Nfsstat3::NoSpc)), "{log}");
}

#[test]
fn wal_torn_write_and_crash_loses_no_acknowledged_byte() {
    let (acked, failure, log) = fault_round(("DITTOFS_TEST_WAL_FAULTS", "tear@4,crash=abort"), 8);
    assert_eq!(acked, vec![0, 1, 2], "{log}");
    assert!(
        matches!(failure, Some(Err(_))),
        "the server should have crashed: {failure:?}"
    );
    assert!(log.contains("injected torn WAL write"), "{log}");
    // The torn record is detected (CRC) and recovery stops there.
    assert!(
        log.contains("damaged record"),
        "torn tail not reported:\n{log}"
    );
}

#[test]
fn block_store_500s_only_delay() {
    // 40 chunks = 2.5 MiB: two full 1 MiB blocks sealed while the store fails.
    let (acked, failure, log) = fault_round(("DITTOFS_TEST_BLOCK_FAULTS", "fail_every=2"), 40);
    assert_eq!(acked.len(), 40, "{failure:?}\n{log}");
    assert!(failure.is_none());
}

#[test]
fn hanging_block_store_delays_then_recovers() {
    let (acked, failure, log) = fault_round(("DITTOFS_TEST_BLOCK_FAULTS", "hang_for_ms=3000"), 40);
    assert_eq!(acked.len(), 40, "{failure:?}\n{log}");
}

#[test]
fn sigterm_syncs_and_checkpoints_the_wal() {
    let data = TempDir::new("faults-data");
    let conf = TempDir::new("faults-conf");
    let mut server = start(data.path(), &conf, &[]);
    let mut c = NfsClient::connect(server.port).expect("connect");
    let fh = create(&mut c, "f");
    // UNSTABLE writes with no COMMIT: only the clean stop makes them durable.
    for i in 0..20 {
        let r: Reply<WriteOk3, WccData> = c
            .nfs(&NfsArgs::Write(WriteArgs {
                file: fh,
                offset: (i * CHUNK) as u64,
                count: CHUNK as u32,
                stable: Stability::Unstable,
                data: Bytes::from(chunk(i)),
            }))
            .expect("write call");
        assert!(matches!(r, Reply::Ok(_)), "unstable write {i} failed");
    }
    drop(c);
    let t = Instant::now();
    let (status, killed) = server.stop();
    assert!(
        status.success() && !killed,
        "{status:?}\n{}",
        server.log_text()
    );
    assert!(t.elapsed() < Duration::from_secs(15));

    let mut restarted = start(data.path(), &conf, &[]);
    let log = restarted.log_text();
    assert_eq!(
        replayed(&log),
        vec![0],
        "a clean stop must leave nothing to replay:\n{log}"
    );
    let mut c = NfsClient::connect(restarted.port).expect("connect");
    let fh = lookup(&mut c, "f");
    verify(&mut c, fh, &(0..20).collect::<Vec<_>>(), &log);

    // Control: the same after SIGKILL replays the log (so the check above can fail).
    for i in 0..4 {
        assert!(c
            .write_sync(fh, (i * CHUNK) as u64, &chunk(i))
            .expect("write")
            .is_ok());
    }
    drop(c);
    restarted.kill();
    let again = start(data.path(), &conf, &[]);
    let log = again.log_text();
    assert!(
        replayed(&log).iter().any(|&n| n > 0),
        "SIGKILL left nothing to replay?\n{log}"
    );
}
