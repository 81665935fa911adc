//! Persistence across restarts on the persistent stores (LMDB metadata,
//! filesystem blocks): the real binary is stopped with SIGTERM and started again
//! on the same data directory; names, link counts, symlink targets, content
//! (read back with libnfs-utils `nfs-cp`, a client we did not write) and the
//! file handles issued before the restart must all still be there.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::nfs_client::NfsClient;
use common::{free_port, lmdb_config, require_tool, run_bounded, Server, TempDir};

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn nfs_cp(server: &Server, src: &str, dst: &str) {
    require_tool("nfs-cp", "libnfs-utils");
    let out = run_bounded(Command::new("nfs-cp").arg(src).arg(dst), TOOL_TIMEOUT);
    assert!(
        out.status.success(),
        "nfs-cp {src} {dst}: {}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn stop_cleanly(server: &mut Server) {
    let (status, killed) = server.stop();
    assert!(
        !killed,
        "server needed SIGKILL; log:\n{}",
        server.log_text()
    );
    assert!(status.success(), "server exited with {status}");
}

#[test]
fn namespace_content_and_handles_survive_restart() {
    let data = TempDir::new("persist-data");
    let local = TempDir::new("persist-local");
    let big = pattern(5 << 20 | 12_345, 7);
    let small = b"hello, persistent world\n".to_vec();
    fs::write(local.path().join("big"), &big).unwrap();

    let mut server = Server::start_on_data(data.path(), lmdb_config);
    let mut c = NfsClient::connect(server.port).expect("connect");
    let root = c.root;
    let a = c.mkdir(root, "a").unwrap().expect("mkdir a");
    let b = c.mkdir(a, "b").unwrap().expect("mkdir a/b");
    let f = c.create(a, "small").unwrap().expect("create a/small");
    assert_eq!(c.write_sync(f, 0, &small).unwrap(), Ok(small.len() as u32));
    c.link(f, b, "hard").unwrap().expect("link a/b/hard");
    let s = c.symlink(a, "sym", "b/hard").unwrap().expect("symlink");
    c.mkdir(root, "gone").unwrap().expect("mkdir gone");
    c.rmdir(root, "gone").unwrap().expect("rmdir gone");
    c.rename(a, "small", a, "renamed").unwrap().expect("rename");
    // libnfs mounts the URL's directory, so its files live at the export root.
    let big_src = local.path().join("big");
    nfs_cp(&server, big_src.to_str().unwrap(), &server.nfs_url("big"));
    let big_fh = c.lookup(root, "big").unwrap().expect("lookup big").object;
    c.link(big_fh, b, "big-link").unwrap().expect("link big");
    let before_f = c.getattr(f).unwrap().expect("getattr");
    drop(c);
    stop_cleanly(&mut server);

    let mut server = Server::start_on_data(data.path(), lmdb_config);
    let mut c = NfsClient::connect(server.port).expect("connect after restart");
    assert_eq!(c.root, root, "root handle changed across restart");
    // Handles from before the restart still work and name the same objects.
    let after_f = c.getattr(f).unwrap().expect("old handle of a/renamed");
    assert_eq!(after_f.fileid, before_f.fileid);
    assert_eq!(after_f.nlink, 2);
    assert_eq!(after_f.size, small.len() as u64);
    assert_eq!(c.lookup(a, "renamed").unwrap().expect("lookup").object, f);
    assert_eq!(c.lookup(b, "hard").unwrap().expect("lookup").object, f);
    assert_eq!(c.lookup(root, "a").unwrap().expect("lookup a").object, a);
    assert!(
        c.lookup(a, "small").unwrap().is_err(),
        "old name still there"
    );
    assert!(
        c.lookup(root, "gone").unwrap().is_err(),
        "removed dir is back"
    );
    assert_eq!(c.readlink(s).unwrap().expect("readlink"), b"b/hard");
    assert_eq!(c.read(f, 0, 4096).unwrap().expect("read"), small);
    let mut names: Vec<String> = c
        .readdirplus_all(a)
        .unwrap()
        .expect("readdirplus")
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "renamed", "sym"]);
    let a_attr = c.getattr(a).unwrap().expect("getattr a");
    assert_eq!(a_attr.nlink, 3, "a has one subdirectory");
    // Content written by a third-party client comes back byte for byte.
    let back = local.path().join("big.back");
    nfs_cp(&server, &server.nfs_url("big"), back.to_str().unwrap());
    assert!(fs::read(&back).unwrap() == big, "big differs after restart");
    let linked = c
        .lookup(b, "big-link")
        .unwrap()
        .expect("a/b/big-link")
        .object;
    assert_eq!(linked, big_fh);
    assert_eq!(
        c.read(big_fh, 5 << 20, 100).unwrap().expect("read"),
        &big[5 << 20..(5 << 20) + 100]
    );
    // New inodes do not reuse old ids.
    let n = c.create(root, "new").unwrap().expect("create new");
    let n_attr = c.getattr(n).unwrap().expect("getattr new");
    assert!(n_attr.fileid > after_f.fileid);
    drop(c);
    stop_cleanly(&mut server);
}

#[test]
fn embedded_default_persists_under_home() {
    let home = TempDir::new("persist-home");
    let port = free_port();
    let start = |home: &Path| {
        let mut cmd = Command::new(common::dittofs_bin());
        cmd.args(["start", "--listen", "127.0.0.1", "--cores", "1"])
            .arg("--nfs-port")
            .arg(port.to_string())
            .env("HOME", home)
            .env("RUST_LOG", "info");
        for var in [
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "INVOCATION_ID",
            "NOTIFY_SOCKET",
            "STATE_DIRECTORY",
        ] {
            cmd.env_remove(var);
        }
        Server::start_command(&mut cmd, port)
    };
    let mut server = start(home.path());
    let mut c = NfsClient::connect(port).expect("connect");
    let d = c.mkdir(c.root, "kept").unwrap().expect("mkdir");
    drop(c);
    stop_cleanly(&mut server);
    let data_dir = home.path().join(".local/share/dittofs");
    assert!(
        data_dir.join("meta").is_dir(),
        "no LMDB store under {data_dir:?}"
    );
    assert!(
        data_dir.join("blocks").is_dir(),
        "no block store under {data_dir:?}"
    );

    let mut server = start(home.path());
    let mut c = NfsClient::connect(port).expect("connect after restart");
    let root = c.root;
    assert_eq!(c.lookup(root, "kept").unwrap().expect("kept").object, d);
    drop(c);
    stop_cleanly(&mut server);
}

#[test]
fn readdir_cookies_and_handles_survive_restart() {
    let data = TempDir::new("persist-cookies");
    let mut server = Server::start_on_data(data.path(), lmdb_config);
    let mut c = NfsClient::connect(server.port).expect("connect");
    let before = common::restart_cookies::remember(&mut c);
    drop(c);
    stop_cleanly(&mut server);
    let mut server = Server::start_on_data(data.path(), lmdb_config);
    let mut c = NfsClient::connect(server.port).expect("connect after restart");
    common::restart_cookies::check_same(&mut c, &before);
    drop(c);
    stop_cleanly(&mut server);
}
