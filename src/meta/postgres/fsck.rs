//! A full consistency check of a PostgreSQL store (`fsck`), in SQL: the crash
//! test runs it after every SIGKILL of the server (the database keeps
//! running), and an operator can run it against a quiet database.
//!
//! Each check is one query over the whole tables, run in one REPEATABLE READ
//! snapshot, so it is O(store): a tool, not something the server runs.

use postgres::IsolationLevel;

use super::{settings, OpenError, PgOptions};

/// What [`fsck`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Inodes in the store.
    pub inodes: u64,
    /// Directory entries in the store.
    pub entries: u64,
    /// Every inconsistency, one line each; empty when the store is consistent.
    pub problems: Vec<String>,
    /// Transaction id horizon of the snapshot (`pg_snapshot_xmax`): grows with
    /// every committed write transaction on the cluster, so the difference
    /// between two checks bounds the commits in between.
    pub xid_horizon: u64,
}

/// (what is wrong, query returning one text column per problem row).
const CHECKS: &[(&str, &str)] = &[
    (
        "entry names a missing inode",
        "SELECT d.dir || '/' || encode(d.name, 'escape') || ' -> ' || d.ino \
         FROM dirents d LEFT JOIN inodes i ON i.ino = d.ino WHERE i.ino IS NULL",
    ),
    (
        "entry in a non-directory",
        "SELECT d.dir || '/' || encode(d.name, 'escape') \
         FROM dirents d JOIN inodes p ON p.ino = d.dir WHERE p.ftype <> 2",
    ),
    (
        "cookie not yet handed out",
        "SELECT d.dir || '/' || encode(d.name, 'escape') || ' cookie ' || d.cookie \
         || ' >= next ' || coalesce(p.next_cookie, -1) \
         FROM dirents d JOIN inodes p ON p.ino = d.dir \
         WHERE p.next_cookie IS NULL OR d.cookie >= p.next_cookie",
    ),
    (
        "non-directory nlink differs from the entries naming it",
        "SELECT i.ino || ': nlink ' || i.nlink || ', entries ' || count(d.ino) \
         FROM inodes i LEFT JOIN dirents d ON d.ino = i.ino \
         WHERE i.ftype <> 2 AND NOT EXISTS (SELECT 1 FROM streams st WHERE st.ino = i.ino) \
         GROUP BY i.ino, i.nlink HAVING i.nlink <> count(d.ino)",
    ),
    (
        "directory nlink is not 2 + subdirectories",
        "SELECT i.ino || ': nlink ' || i.nlink || ', subdirectories ' || count(c.ino) \
         FROM inodes i LEFT JOIN dirents d ON d.dir = i.ino \
         LEFT JOIN inodes c ON c.ino = d.ino AND c.ftype = 2 \
         WHERE i.ftype = 2 GROUP BY i.ino, i.nlink HAVING i.nlink <> 2 + count(c.ino)",
    ),
    (
        "directory not named exactly once (or a share root named at all)",
        "SELECT i.ino || ': named ' || count(d.ino) || ' times' \
         FROM inodes i LEFT JOIN dirents d ON d.ino = i.ino \
         WHERE i.ftype = 2 GROUP BY i.ino \
         HAVING count(d.ino) <> CASE WHEN EXISTS \
             (SELECT 1 FROM shares s WHERE s.root = i.ino) THEN 0 ELSE 1 END",
    ),
    (
        "directory's parent column differs from the directory naming it",
        "SELECT c.ino || ': parent ' || c.parent || ', named in ' || d.dir \
         FROM dirents d JOIN inodes c ON c.ino = d.ino \
         WHERE c.ftype = 2 AND c.parent <> d.dir",
    ),
    (
        "share root is not a self-parented directory",
        "SELECT s.name || ' -> ' || s.root FROM shares s JOIN inodes i ON i.ino = s.root \
         WHERE i.ftype <> 2 OR i.parent <> i.ino",
    ),
    (
        "orphan inode (no entry names it and it is no share root)",
        "SELECT i.ino::text FROM inodes i \
         WHERE NOT EXISTS (SELECT 1 FROM dirents d WHERE d.ino = i.ino) \
           AND NOT EXISTS (SELECT 1 FROM shares s WHERE s.root = i.ino) \
           AND NOT EXISTS (SELECT 1 FROM streams st WHERE st.ino = i.ino) \
           AND NOT (i.nlink = 0 AND EXISTS (SELECT 1 FROM orphans o WHERE o.ino = i.ino))",
    ),
    (
        "inode id not below the sequence",
        "SELECT i.ino::text FROM inodes i, inode_ids s \
         WHERE s.is_called AND i.ino > s.last_value OR NOT s.is_called",
    ),
];

/// Runs every check on the database of `opts` (connecting once; the schema
/// must exist). Empty `problems` means consistent.
pub fn fsck(opts: &PgOptions) -> Result<FsckReport, OpenError> {
    let db = |e: postgres::Error| OpenError::Connect(e.to_string());
    let mut client = settings(opts)?.connect().map_err(db)?;
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(db)?;
    let counts = tx
        .query_one(
            "SELECT (SELECT count(*) FROM inodes), (SELECT count(*) FROM dirents), \
             pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
            &[],
        )
        .map_err(db)?;
    let mut report = FsckReport {
        inodes: counts.get::<_, i64>(0).unsigned_abs(),
        entries: counts.get::<_, i64>(1).unsigned_abs(),
        problems: Vec::new(),
        xid_horizon: counts.get::<_, i64>(2).unsigned_abs(),
    };
    for (what, sql) in CHECKS {
        for row in tx.query(*sql, &[]).map_err(db)? {
            let detail: Option<String> = row.get(0);
            report
                .problems
                .push(format!("{what}: {}", detail.unwrap_or_default()));
        }
    }
    tx.commit().map_err(db)?;
    Ok(report)
}
