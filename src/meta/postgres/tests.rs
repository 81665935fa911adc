//! The conformance suite and store-level behaviour against a real PostgreSQL
//! (`$DATABASE_URL` or a throwaway cluster; see `tests/common/pg.rs`).

use std::sync::Arc;

use super::{PgOptions, PostgresStore};
use crate::meta::{conformance, MetadataStore};

#[path = "../../../tests/common/pg.rs"]
mod pg;

pub fn options(url: String) -> PgOptions {
    PgOptions {
        url,
        pool_size: 2,
        connect_timeout_ms: 5000,
        statement_timeout_ms: 30_000,
    }
}

#[test]
fn conformance_suite() {
    let server = pg::Pg::start();
    futures_lite::future::block_on(conformance::run_all(|| {
        let store = PostgresStore::open(&options(server.fresh_db())).expect("open store");
        Arc::new(store) as Arc<dyn MetadataStore>
    }));
}

/// 100,000 entries through the trait (creates 64 in flight over 8
/// connections); then the listing while modified.
#[test]
fn readdir_100k_entries_while_modified() {
    let server = pg::Pg::start();
    let mut opts = options(server.fresh_db());
    opts.pool_size = 8;
    let store = PostgresStore::open(&opts).expect("open store");
    let started = std::time::Instant::now();
    futures_lite::future::block_on(crate::meta::readdir_100k::check(&store, 64));
    eprintln!("postgres readdir_100k: {:?}", started.elapsed());
}

#[test]
fn migrations_are_idempotent_and_versioned() {
    let server = pg::Pg::start();
    let url = server.fresh_db();
    let applied = super::migrate(&options(url.clone())).expect("first migrate");
    assert_eq!(applied, vec![1, 2, 3, 4]);
    assert!(super::migrate(&options(url.clone()))
        .expect("second migrate")
        .is_empty());
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let v: i32 = c
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .expect("version")
        .get(0);
    assert_eq!(v, super::schema::latest_version());
}

/// `fsck` finds nothing after the conformance workload's kind of changes, and
/// reports each injected inconsistency.
#[test]
fn fsck_passes_on_a_consistent_store_and_reports_corruption() {
    use crate::fs::{FileType, Timespec};
    use crate::meta::{NewInode, OnExists, RemoveKind};
    let server = pg::Pg::start();
    let url = server.fresh_db();
    let store = PostgresStore::open(&options(url.clone())).expect("open store");
    let new = |ftype| NewInode {
        ftype,
        mode: 0o755,
        uid: 1,
        gid: 1,
        rdev: Default::default(),
        target: b"t".to_vec(),
        verifier: None,
        on_exists: OnExists::Fail,
    };
    let now = Timespec::now();
    let (f, d) = futures_lite::future::block_on(async {
        let r = store.share_root("/export", 0o755).await.expect("root");
        let d = store.create(r, b"d", &new(FileType::Directory), now).await;
        let d = d.expect("mkdir").attr.ino;
        let f = store.create(d, b"f", &new(FileType::Regular), now).await;
        let f = f.expect("create").attr.ino;
        store.link(f, r, b"f2", now).await.expect("link");
        store
            .create(r, b"l", &new(FileType::Symlink), now)
            .await
            .expect("symlink");
        store
            .create(r, b"gone", &new(FileType::Regular), now)
            .await
            .expect("create");
        store
            .remove(r, b"gone", RemoveKind::NonDirectory, None, now)
            .await
            .expect("remove");
        // Kept at nlink 0 for an open: on the orphan set, not a problem.
        store
            .create(r, b"kept", &new(FileType::Regular), now)
            .await
            .expect("create");
        store
            .remove(r, b"kept", RemoveKind::NonDirectoryKeep, None, now)
            .await
            .expect("remove kept");
        (f, d)
    });
    let clean = super::fsck(&options(url.clone())).expect("fsck");
    assert_eq!(clean.problems, Vec::<String>::new());
    assert_eq!((clean.inodes, clean.entries), (5, 4));

    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    c.batch_execute(&format!(
        "UPDATE inodes SET nlink = 1 WHERE ino = {f}; \
         UPDATE inodes SET nlink = 5 WHERE ino = {d}; \
         DELETE FROM dirents WHERE name = 'l'::bytea; \
         DELETE FROM orphans"
    ))
    .expect("corrupt");
    let bad = super::fsck(&options(url)).expect("fsck");
    let has = |what: &str| bad.problems.iter().any(|p| p.starts_with(what));
    assert!(has("non-directory nlink"), "{:#?}", bad.problems);
    assert!(has("directory nlink is not"), "{:#?}", bad.problems);
    assert!(has("orphan inode"), "{:#?}", bad.problems);
    // The symlink and the kept inode, now off the orphan set.
    let orphans = bad
        .problems
        .iter()
        .filter(|p| p.starts_with("orphan inode"));
    assert_eq!(orphans.count(), 2, "{:#?}", bad.problems);
    assert_eq!(bad.problems.len(), 5, "{:#?}", bad.problems);
}
