//! The S3 block store against a real S3-protocol server (moto) on loopback:
//! object operations, pagination, multipart, error mapping, retries, and the
//! dittofs binary serving a share whose blocks live in S3 (libnfs `nfs-cp`).

mod common;
#[path = "common/s3.rs"]
mod s3_harness;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{require_tool, run_bounded, Server};
use dittofs::blocks::{BlockStore, BlockStoreError, S3BlockStore};
use dittofs::config::S3BlockStoreConfig;
use s3_harness::MotoServer;

const MIB: usize = 1024 * 1024;

fn config(moto: &MotoServer, bucket: &str) -> S3BlockStoreConfig {
    let mut c = S3BlockStoreConfig::new(bucket);
    c.endpoint = Some(moto.endpoint());
    c.access_key_id = Some("testing".into());
    c.secret_access_key = Some("testing".into());
    c.retry_base_delay_ms = 20;
    c.request_timeout_ms = 10_000;
    c.validate("test").expect("test config is valid");
    c
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn open(moto: &MotoServer, cfg: &S3BlockStoreConfig) -> S3BlockStore {
    S3BlockStore::open(cfg).unwrap_or_else(|e| panic!("open: {e}; moto log:\n{}", moto.log_text()))
}

#[test]
fn put_get_ranged_get_list_delete() {
    let moto = MotoServer::start();
    moto.create_bucket("blocks");
    let mut cfg = config(&moto, "blocks");
    cfg.prefix = "dittofs/".into();
    let s = open(&moto, &cfg);

    s.put("1/7/0", Bytes::from_static(b"hello world")).unwrap();
    s.put("1/7/1", Bytes::from_static(b"second")).unwrap();
    s.put("1/8/0", Bytes::from_static(b"other")).unwrap();
    s.put("1/7/0", Bytes::from_static(b"HELLO world")).unwrap();

    assert_eq!(&s.get("1/7/0", 0, 5).unwrap()[..], b"HELLO");
    assert_eq!(&s.get("1/7/0", 6, 100).unwrap()[..], b"world");
    assert_eq!(&s.get("1/7/0", 3, 2).unwrap()[..], b"LO");
    assert_eq!(&s.get("1/7/0", 0, u64::MAX).unwrap()[..], b"HELLO world");
    assert_eq!(&s.get("1/7/0", 4, u64::MAX).unwrap()[..], b"O world");
    assert_eq!(s.get("1/7/0", 50, 10).unwrap().len(), 0, "past the end");
    assert_eq!(s.get("1/7/0", 0, 0).unwrap().len(), 0);

    assert_eq!(s.list("1/7/").unwrap(), vec!["1/7/0", "1/7/1"]);
    assert_eq!(s.list("").unwrap(), vec!["1/7/0", "1/7/1", "1/8/0"]);
    assert!(s.list("2/").unwrap().is_empty());

    s.delete("1/7/0").unwrap();
    s.delete("1/7/0").unwrap();
    s.delete("never/existed").unwrap();
    assert_eq!(
        s.get("1/7/0", 0, 1),
        Err(BlockStoreError::NotFound("1/7/0".into()))
    );
    assert!(matches!(
        s.get("1/7/0", 0, 0),
        Err(BlockStoreError::NotFound(_))
    ));
    assert_eq!(s.list("1/").unwrap(), vec!["1/7/1", "1/8/0"]);

    // The prefix is really in the bucket: a store without it sees the full keys.
    let bare = open(&moto, &config(&moto, "blocks"));
    assert_eq!(
        bare.list("").unwrap(),
        vec!["dittofs/1/7/1", "dittofs/1/8/0"]
    );
}

#[test]
fn list_follows_continuation_tokens() {
    let moto = MotoServer::start();
    moto.create_bucket("pages");
    let mut cfg = config(&moto, "pages");
    cfg.list_page_keys = 7;
    let s = open(&moto, &cfg);
    let mut want: Vec<String> = (0..40).map(|i| format!("f/{i:03}")).collect();
    for key in &want {
        s.put(key, Bytes::from(key.clone().into_bytes())).unwrap();
    }
    s.put("g/0", Bytes::from_static(b"x")).unwrap();
    let before = s.requests_sent();
    let got = s.list("f/").unwrap();
    let pages = s.requests_sent() - before;
    want.sort();
    assert_eq!(got, want);
    assert_eq!(pages, 6, "40 keys in pages of 7");
    assert_eq!(s.list("").unwrap().len(), 41);
}

#[test]
fn multipart_upload_is_byte_identical() {
    let moto = MotoServer::start();
    moto.create_bucket("big");
    let mut cfg = config(&moto, "big");
    cfg.multipart_threshold_bytes = 5 * MIB as u64;
    let s = open(&moto, &cfg);
    let data = random_bytes(21 * MIB + 12345, 7);

    let before = s.requests_sent();
    s.put("big/0", Bytes::from(data.clone())).unwrap();
    let requests = s.requests_sent() - before;
    assert_eq!(requests, 5, "create + 3 parts of 8 MiB + complete");

    let back = s.get("big/0", 0, u64::MAX).unwrap();
    assert!(back[..] == data[..], "multipart object differs");
    // A range across the first part boundary.
    let at = 8 * MIB - 100;
    assert_eq!(
        &s.get("big/0", at as u64, 200).unwrap()[..],
        &data[at..at + 200]
    );

    // Below the threshold: one PUT.
    let before = s.requests_sent();
    s.put("small/0", Bytes::from(data[..MIB].to_vec())).unwrap();
    assert_eq!(s.requests_sent() - before, 1);
}

#[test]
fn missing_bucket_is_a_clear_error_at_open() {
    let moto = MotoServer::start();
    let err = match S3BlockStore::open(&config(&moto, "nosuch-bucket")) {
        Ok(_) => panic!("open succeeded on a missing bucket"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        matches!(err, BlockStoreError::Io(_))
            && msg.contains("nosuch-bucket")
            && msg.contains("does not exist")
            && msg.contains(&moto.endpoint()),
        "{msg}"
    );
}

#[test]
fn refused_credentials_are_denied_without_retries() {
    let moto = MotoServer::start();
    moto.create_bucket("locked");
    let cfg = config(&moto, "locked");
    let s = open(&moto, &cfg);
    s.put("k", Bytes::from_static(b"before")).unwrap();
    // moto now checks signatures against its IAM users, of which there are none.
    moto.enable_auth();

    let before = s.requests_sent();
    let err = s.put("k", Bytes::from_static(b"after")).unwrap_err();
    assert_eq!(s.requests_sent() - before, 1, "a 403 must not be retried");
    let BlockStoreError::Denied(msg) = &err else {
        panic!("expected Denied, got {err:?}");
    };
    assert!(
        msg.contains("locked") && msg.contains(&moto.endpoint()),
        "{msg}"
    );

    let before = s.requests_sent();
    assert!(matches!(s.get("k", 0, 1), Err(BlockStoreError::Denied(_))));
    assert!(matches!(s.list(""), Err(BlockStoreError::Denied(_))));
    assert_eq!(s.requests_sent() - before, 2);

    assert!(matches!(
        S3BlockStore::open(&cfg),
        Err(BlockStoreError::Denied(_))
    ));
}

#[test]
fn a_stopped_server_is_retried_then_reported() {
    let mut moto = MotoServer::start();
    moto.create_bucket("gone");
    let mut cfg = config(&moto, "gone");
    cfg.retries_max = 3;
    cfg.retry_base_delay_ms = 50;
    cfg.request_timeout_ms = 2_000;
    let s = open(&moto, &cfg);
    s.put("k", Bytes::from_static(b"x")).unwrap();
    moto.kill();

    let before = s.requests_sent();
    let t = Instant::now();
    let err = s.put("k", Bytes::from_static(b"y")).unwrap_err();
    let took = t.elapsed();
    assert_eq!(s.requests_sent() - before, 4, "1 try + 3 retries");
    let BlockStoreError::Io(msg) = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert!(
        msg.contains("gave up after 4 tries") && msg.contains("gone"),
        "{msg}"
    );
    // Backoff ceilings 50+100+200 ms, plus 4 refused connections: well under 10 s.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(matches!(s.get("k", 0, 1), Err(BlockStoreError::Io(_))));
}

fn write_random(path: &Path, len: usize, seed: u64) {
    std::fs::write(path, random_bytes(len, seed)).expect("write local file");
}

#[test]
fn dittofs_serves_a_share_on_s3_byte_identical() {
    require_tool("nfs-cp", "libnfs-utils");
    let moto = MotoServer::start();
    moto.create_bucket("share-blocks");
    let endpoint = moto.endpoint();
    let server = Server::start_with(|port, data_dir| {
        format!(
            r#"data_dir = "{data_dir}"
listen = "127.0.0.1"
cores = 2

[adapters.nfs]
port = {port}

[metadata_stores.default]
type = "memory"

[block_stores.s3]
type = "s3"
endpoint = "{endpoint}"
bucket = "share-blocks"
prefix = "e2e/"
access_key_id = "testing"
secret_access_key = "testing"

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "s3"
root_mode = 511
"#,
            data_dir = data_dir.display()
        )
    });
    let local = server.dir.path().join("in.bin");
    let back = server.dir.path().join("out.bin");
    write_random(&local, 64 * MIB, 64);
    let limit = Duration::from_secs(300);
    let cp = |src: &str, dst: &str| {
        let out = run_bounded(Command::new("nfs-cp").arg(src).arg(dst), limit);
        assert!(
            out.status.success(),
            "nfs-cp {src} {dst}: {}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            server.log_text()
        );
    };
    let t = Instant::now();
    cp(local.to_str().unwrap(), &server.nfs_url("big.bin"));
    let up = t.elapsed();
    let t = Instant::now();
    cp(&server.nfs_url("big.bin"), back.to_str().unwrap());
    let down = t.elapsed();
    eprintln!("nfs-cp 64 MiB through S3 (moto): write {up:?}, read {down:?}");
    let a = std::fs::read(&local).unwrap();
    let b = std::fs::read(&back).unwrap();
    assert_eq!(a.len(), b.len(), "length differs");
    assert!(a == b, "content differs");

    // The blocks are objects in the bucket, under the configured prefix.
    let mut cfg = config(&moto, "share-blocks");
    cfg.prefix = "e2e/".into();
    let objects = open(&moto, &cfg).list("").unwrap();
    assert!(
        objects.len() >= 16,
        "expected at least 64 MiB / 4 MiB blocks in the bucket, found {}: {objects:?}",
        objects.len()
    );
    assert!(
        server
            .log_text()
            .contains("S3 block store: bucket share-blocks"),
        "server log:\n{}",
        server.log_text()
    );
}

#[test]
fn dittofs_exits_1_naming_a_missing_bucket() {
    let moto = MotoServer::start();
    let dir = common::TempDir::new("s3-missing");
    let conf = dir.path().join("dittofs.toml");
    let port = common::free_port();
    std::fs::write(
        &conf,
        format!(
            r#"listen = "127.0.0.1"
cores = 1

[adapters.nfs]
port = {port}

[block_stores.default]
type = "s3"
endpoint = "{}"
bucket = "no-such-bucket"
access_key_id = "testing"
secret_access_key = "testing"
"#,
            moto.endpoint()
        ),
    )
    .unwrap();
    let out = run_bounded(
        Command::new(common::dittofs_bin())
            .arg("start")
            .arg("--config")
            .arg(&conf),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("no-such-bucket") && stderr.contains("does not exist"),
        "stderr:\n{stderr}"
    );
}
