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

/// Objects of the filesystem block store: `(relative path, block index,
/// generation)` for every `{share}/{ino}/{index}.{generation}` file.
fn block_objects(blocks: &Path) -> Vec<(std::path::PathBuf, u64, u64)> {
    let mut out = Vec::new();
    let mut dirs = vec![blocks.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Some((index, generation)) = name.split_once('.') {
                if let (Ok(i), Ok(g)) = (index.parse(), generation.parse()) {
                    out.push((path, i, g));
                }
            }
        }
    }
    out.sort_by_key(|(_, i, g)| (*i, *g));
    out
}

/// After a restart a file's content is found through its block map in the
/// metadata store: every sealed block is a new object
/// `{share}/{ino}/{index}.{generation}`, a rewrite bumps the generation and
/// deletes the old object, and an orphan (an object the map does not point
/// at, as a crash between upload and map update leaves) is never read and is
/// swept at start. `durability = "remote"`: FILE_SYNC replies only once the
/// blocks are uploaded and mapped, so the objects are there to look at.
#[test]
fn content_comes_back_through_the_block_map() {
    let data = TempDir::new("blockmap-data");
    let remote = |port: u16, dir: &Path| {
        lmdb_config(port, dir).replace(
            "squash = \"none\"\n",
            "squash = \"none\"\ndurability = \"remote\"\n",
        )
    };
    let mut content = pattern(9 << 20 | 777, 3);
    let blocks = data.path().join("blocks");

    let mut server = Server::start_on_data(data.path(), remote);
    let mut c = NfsClient::connect(server.port).expect("connect");
    let f = c.create(c.root, "mapped").unwrap().expect("create");
    for (i, chunk) in content.chunks(1 << 20).enumerate() {
        let written = c.write_sync(f, (i << 20) as u64, chunk).unwrap();
        assert_eq!(written, Ok(chunk.len() as u32));
    }
    let first = block_objects(&blocks);
    let indices: Vec<u64> = first.iter().map(|(_, i, _)| *i).collect();
    assert_eq!(indices, [0, 1, 2], "one object per block: {first:?}");
    // Rewrite 100 bytes of block 0.
    content[10..110].fill(0xAB);
    assert_eq!(c.write_sync(f, 10, &content[10..110]).unwrap(), Ok(100));
    let second = block_objects(&blocks);
    assert_eq!(second.len(), 3, "old generation left behind: {second:?}");
    assert!(second[0].2 > first[0].2, "no new generation: {second:?}");
    assert!(!first[0].0.exists(), "superseded object not deleted");
    drop(c);
    stop_cleanly(&mut server);

    // An orphan with the next generation of block 1, full of garbage.
    let (path1, _, g1) = &second[1];
    let orphan = path1.with_file_name(format!("1.{}", g1 + 1));
    fs::write(&orphan, vec![0x5A; 4 << 20]).unwrap();

    let mut server = Server::start_on_data(data.path(), lmdb_config);
    let mut c = NfsClient::connect(server.port).expect("connect after restart");
    let f2 = c.lookup(c.root, "mapped").unwrap().expect("lookup").object;
    assert_eq!(f2, f);
    let mut back = Vec::new();
    while back.len() < content.len() {
        let chunk = c
            .read(f, back.len() as u64, 1 << 20)
            .unwrap()
            .expect("read");
        assert!(!chunk.is_empty(), "short file");
        back.extend_from_slice(&chunk);
    }
    assert!(back == content, "content differs after restart");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while orphan.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!orphan.exists(), "the sweep left the orphan");
    assert_eq!(block_objects(&blocks).len(), 3);
    drop(c);
    stop_cleanly(&mut server);
}
