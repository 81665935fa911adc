//! The PostgreSQL metadata store against a real PostgreSQL (`$DATABASE_URL` or a
//! throwaway cluster, see `tests/common/pg.rs`): the real binary served to
//! libnfs-utils, a restart that finds the tree again, a database outage in the
//! middle of a run, concurrent renames through the store API, and
//! `dittofs db migrate`. A missing PostgreSQL or libnfs-utils fails the test.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{require_tool, run_bounded, Server, TempDir};
use dittofs::fs::{FileType, Timespec};
use dittofs::meta::postgres::{PgOptions, PostgresStore};
use dittofs::meta::{MetaError, MetadataStore, NewInode, OnExists, RenameArgs};

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

fn pg_config(url: &str) -> impl Fn(u16, &Path) -> String + '_ {
    move |port, data_dir| {
        format!(
            r#"data_dir = "{data_dir}"
listen = "127.0.0.1"
cores = 2

[adapters.nfs]
port = {port}

[metadata_stores.default]
type = "postgres"
url = "{url}"
pool_size = 4
connect_timeout_ms = 2000

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
}

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

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn nfs_ls(server: &Server) -> String {
    let out = run_bounded(tool("nfs-ls").arg(server.nfs_url("")), TOOL_TIMEOUT);
    String::from_utf8_lossy(&ok(out, "nfs-ls", server).stdout).into_owned()
}

#[test]
fn nfs_roundtrip_on_postgres_and_the_tree_survives_a_restart() {
    let pg = pg::Pg::start();
    let url = pg.fresh_db();
    let tmp = TempDir::new("pg-e2e");
    let data = pseudo_random(3 << 20, 42);
    let src = tmp.path().join("in.bin");
    std::fs::write(&src, &data).expect("write source");
    let server = Server::start_with(pg_config(&url));
    for name in ["a.bin", "b.bin"] {
        let out = run_bounded(
            tool("nfs-cp").arg(&src).arg(server.nfs_url(name)),
            TOOL_TIMEOUT,
        );
        ok(out, "nfs-cp in", &server);
    }
    let back = tmp.path().join("back.bin");
    let out = run_bounded(
        tool("nfs-cp").arg(server.nfs_url("a.bin")).arg(&back),
        TOOL_TIMEOUT,
    );
    ok(out, "nfs-cp out", &server);
    assert!(
        std::fs::read(&back).expect("read back") == data,
        "content differs"
    );
    let listing = nfs_ls(&server);
    for name in ["a.bin", "b.bin"] {
        assert!(listing.contains(name), "{name} missing:\n{listing}");
    }
    drop(server);

    // A new process on the same database finds the names and sizes again
    // (content lived in the memory block store and is gone with the process).
    let server = Server::start_with(pg_config(&url));
    let listing = nfs_ls(&server);
    for name in ["a.bin", "b.bin"] {
        let line = listing
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} lost across restart:\n{listing}"));
        assert!(
            line.contains(&data.len().to_string()),
            "size of {name} lost: {line}"
        );
    }
}

#[test]
fn a_lost_database_gives_errors_not_hangs_and_calls_recover() {
    let pg = pg::Pg::start();
    assert!(
        pg.is_throwaway(),
        "this test stops PostgreSQL: run it without DATABASE_URL"
    );
    let url = pg.fresh_db();
    let tmp = TempDir::new("pg-outage");
    let src = tmp.path().join("small.bin");
    std::fs::write(&src, b"hello postgres\n").expect("write");
    let server = Server::start_with(pg_config(&url));
    nfs_ls(&server);

    pg.pause(); // pg_ctl stop -m fast
    let started = Instant::now();
    let out = run_bounded(
        tool("nfs-cp").arg(&src).arg(server.nfs_url("during.bin")),
        TOOL_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "nfs-cp succeeded while the database was down"
    );
    eprintln!(
        "during the outage nfs-cp failed after {:?}: {}",
        started.elapsed(),
        stderr.trim()
    );
    assert!(
        ["ERR_IO", "ERR_JUKEBOX", "Input/output", "EAGAIN"]
            .iter()
            .any(|m| stderr.contains(m)),
        "expected an I/O or JUKEBOX error, got: {stderr}"
    );
    assert!(
        server
            .log_text()
            .contains("postgres metadata store unavailable"),
        "outage not logged:\n{}",
        server.log_text()
    );

    pg.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = run_bounded(
            tool("nfs-cp").arg(&src).arg(server.nfs_url("after.bin")),
            TOOL_TIMEOUT,
        );
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "calls did not recover after the database came back: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let listing = nfs_ls(&server);
    assert!(listing.contains("after.bin"), "{listing}");
    assert!(!listing.contains("during.bin"), "{listing}");
    let outages = server
        .log_text()
        .matches("postgres metadata store unavailable")
        .count();
    assert!(
        outages <= 3,
        "outage logged {outages} times: not rate-limited"
    );
}

fn opts(url: String, pool_size: usize) -> PgOptions {
    PgOptions {
        url,
        pool_size,
        connect_timeout_ms: 5000,
        statement_timeout_ms: 30_000,
    }
}

fn file(ftype: FileType) -> NewInode {
    NewInode {
        ftype,
        mode: 0o755,
        uid: 0,
        gid: 0,
        rdev: Default::default(),
        target: Vec::new(),
        verifier: None,
        on_exists: OnExists::Fail,
    }
}

#[test]
fn concurrent_renames_between_two_directories_stay_consistent() {
    use futures_lite::future::block_on;
    let pg = pg::Pg::start();
    let store = Arc::new(PostgresStore::open(&opts(pg.fresh_db(), 8)).expect("open"));
    let now = Timespec { sec: 1, nsec: 0 };
    let root = block_on(store.share_root("/export", 0o777)).expect("root");
    let a = block_on(store.create(root, b"a", &file(FileType::Directory), now))
        .expect("a")
        .attr
        .ino;
    let b = block_on(store.create(root, b"b", &file(FileType::Directory), now))
        .expect("b")
        .attr
        .ino;
    let files = 16;
    let subdirs = 4;
    for k in 0..files {
        block_on(store.create(a, format!("f{k}").as_bytes(), &file(FileType::Regular), now))
            .expect("file");
    }
    for k in 0..subdirs {
        block_on(store.create(
            a,
            format!("d{k}").as_bytes(),
            &file(FileType::Directory),
            now,
        ))
        .expect("subdir");
    }
    let started = Instant::now();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut done = 0u32;
                let mut x = t * 7919 + 1;
                for _ in 0..150 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let pick = (x >> 33) as usize % (files + subdirs);
                    let name = if pick < files {
                        format!("f{pick}")
                    } else {
                        format!("d{}", pick - files)
                    };
                    let (from, to) = if (x >> 20) & 1 == 0 { (a, b) } else { (b, a) };
                    let args = RenameArgs {
                        from_dir: from,
                        from_name: name.as_bytes(),
                        to_dir: to,
                        to_name: name.as_bytes(),
                        expect_src: None,
                        expect_dst: None,
                    };
                    match block_on(store.rename(args, Timespec { sec: 2, nsec: 0 })) {
                        Ok(_) => done += 1,
                        Err(MetaError::NoEntry) => {}
                        Err(e) => panic!("rename {name}: {e}"),
                    }
                }
                done
            })
        })
        .collect();
    let renamed: u32 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    eprintln!("{renamed} concurrent renames in {:?}", started.elapsed());
    assert!(renamed > 0);
    let list = |dir| {
        block_on(store.readdir(dir, 0, 1000, true))
            .expect("readdir")
            .entries
    };
    let (in_a, in_b) = (list(a), list(b));
    assert_eq!(
        in_a.len() + in_b.len(),
        files + subdirs,
        "entries lost or duplicated"
    );
    let mut names: Vec<_> = in_a.iter().chain(&in_b).map(|e| e.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        files + subdirs,
        "a name is in both directories"
    );
    for e in in_a.iter().chain(&in_b) {
        let attr = e.attr.as_ref().expect("attr");
        let want = if attr.ftype == FileType::Directory {
            2
        } else {
            1
        };
        assert_eq!(
            attr.nlink,
            want,
            "nlink of {:?}",
            String::from_utf8_lossy(&e.name)
        );
    }
    for (dir, entries) in [(a, &in_a), (b, &in_b)] {
        let dirs_inside = entries
            .iter()
            .filter(|e| {
                e.attr
                    .as_ref()
                    .is_some_and(|a| a.ftype == FileType::Directory)
            })
            .count() as u32;
        let attr = block_on(store.get(dir)).expect("dir attr");
        assert_eq!(attr.nlink, 2 + dirs_inside, "nlink of a parent directory");
        for e in entries.iter().filter(|e| e.name.starts_with(b"d")) {
            let dotdot = block_on(store.lookup(e.ino, b"..")).expect("..");
            assert_eq!(dotdot.ino, dir, "'..' of a moved directory");
        }
    }
}

#[test]
fn db_migrate_applies_once_then_reports_up_to_date() {
    let pg = pg::Pg::start();
    let url = pg.fresh_db();
    let tmp = TempDir::new("pg-migrate");
    let conf = tmp.path().join("config.toml");
    std::fs::write(&conf, pg_config(&url)(12049, tmp.path())).expect("config");
    let run = || {
        run_bounded(
            Command::new(common::dittofs_bin())
                .args(["db", "migrate", "--config"])
                .arg(&conf),
            TOOL_TIMEOUT,
        )
    };
    let first = run();
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        first.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(text.contains("applied migrations [1, 2, 3, 4]"), "{text}");
    let second = run();
    let text = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(
        second.status.success() && text.contains("up to date"),
        "{text}"
    );
    let wrong = run_bounded(
        Command::new(common::dittofs_bin())
            .args(["db", "migrate", "--store", "nope", "--config"])
            .arg(&conf),
        TOOL_TIMEOUT,
    );
    assert_eq!(wrong.status.code(), Some(2));
}

/// Creates from 8 threads into one directory (the hot-row case: every create
/// locks and updates the directory's row). Prints the rate; checks the count.
#[test]
fn parallel_creates_in_one_directory() {
    use futures_lite::future::block_on;
    let pg = pg::Pg::start();
    let store = Arc::new(PostgresStore::open(&opts(pg.fresh_db(), 8)).expect("open"));
    let now = Timespec { sec: 1, nsec: 0 };
    let root = block_on(store.share_root("/export", 0o777)).expect("root");
    let per_thread = 250;
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for k in 0..per_thread {
                    let name = format!("t{t}-{k}");
                    block_on(store.create(root, name.as_bytes(), &file(FileType::Regular), now))
                        .expect("create");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let secs = started.elapsed().as_secs_f64();
    let total = 8 * per_thread;
    eprintln!(
        "{total} creates from 8 threads into one directory in {secs:.2}s = {:.0} creates/s",
        f64::from(total) / secs
    );
    let listing = block_on(store.readdir(root, 0, 10_000, false)).expect("readdir");
    assert_eq!(listing.entries.len(), total as usize);
    let mut cookies: Vec<_> = listing.entries.iter().map(|e| e.cookie).collect();
    cookies.dedup();
    assert_eq!(cookies.len(), total as usize, "cookies must be unique");
}

#[test]
fn readdir_cookies_and_handles_survive_restart_on_postgres() {
    use common::nfs_client::NfsClient;
    let pg = pg::Pg::start();
    let url = pg.fresh_db();
    let server = Server::start_with(pg_config(&url));
    let mut c = NfsClient::connect(server.port).expect("connect");
    let before = common::restart_cookies::remember(&mut c);
    drop(c);
    drop(server);
    let server = Server::start_with(pg_config(&url));
    let mut c = NfsClient::connect(server.port).expect("connect after restart");
    common::restart_cookies::check_same(&mut c, &before);
}
