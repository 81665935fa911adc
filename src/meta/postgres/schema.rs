//! Versioned schema migrations, embedded as SQL and applied in order.
//!
//! `schema_migrations` records every applied version; each migration runs in
//! its own transaction together with its bookkeeping row, so a crash leaves the
//! schema at a whole version. Migrations run when a store opens and through
//! `dittofs db migrate`. Several servers starting at once serialize on an
//! advisory lock. Never edit a released migration: append a new one.

use postgres::Client;

/// Advisory lock key taken while migrating ("dittofs" in ASCII).
const MIGRATION_LOCK: i64 = 0x0064_6974_746f_6673;

/// (version, description, SQL). Versions start at 1 and increase by one.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "inodes, dirents, shares, blocks, inode id sequence",
        r#"
CREATE TABLE store_info (
    id          smallint PRIMARY KEY CHECK (id = 1),
    generation  bigint NOT NULL
);
INSERT INTO store_info (id, generation)
    VALUES (1, (floor(random() * 9.2e18))::bigint + 1);

-- Inode ids are never reused, so NFS handles stay valid across restarts.
CREATE SEQUENCE inode_ids AS bigint START 1 NO CYCLE;

CREATE TABLE inodes (
    ino          bigint PRIMARY KEY,
    ftype        smallint NOT NULL,
    mode         bigint NOT NULL,
    nlink        bigint NOT NULL,
    uid          bigint NOT NULL,
    gid          bigint NOT NULL,
    size         bigint NOT NULL,
    used         bigint NOT NULL,
    rdev_major   bigint NOT NULL,
    rdev_minor   bigint NOT NULL,
    atime_sec    bigint NOT NULL, atime_nsec bigint NOT NULL,
    mtime_sec    bigint NOT NULL, mtime_nsec bigint NOT NULL,
    ctime_sec    bigint NOT NULL, ctime_nsec bigint NOT NULL,
    btime_sec    bigint NOT NULL, btime_nsec bigint NOT NULL,
    generation   bigint NOT NULL,
    -- Directories: their parent (a share root is its own); 0 otherwise.
    parent       bigint NOT NULL,
    target       bytea,
    verifier     bytea,
    -- Directories: the cookie the next entry gets.
    next_cookie  bigint
);

CREATE TABLE dirents (
    dir     bigint NOT NULL REFERENCES inodes (ino),
    name    bytea  NOT NULL,
    ino     bigint NOT NULL,
    cookie  bigint NOT NULL,
    PRIMARY KEY (dir, name),
    UNIQUE (dir, cookie)
);
CREATE INDEX dirents_ino ON dirents (ino);

CREATE TABLE shares (
    name  text PRIMARY KEY,
    root  bigint NOT NULL REFERENCES inodes (ino)
);

-- Content may outlive its inode until the owner shard dropped it: no FK.
CREATE TABLE blocks (
    ino         bigint NOT NULL,
    idx         bigint NOT NULL,
    key         text   NOT NULL,
    len         bigint NOT NULL,
    generation  bigint NOT NULL,
    PRIMARY KEY (ino, idx)
);
"#,
    ),
    (
        2,
        "users, groups, per-inode DOS attributes",
        r#"
-- SMB attribute bits (FILE_ATTRIBUTE_*); 0 = none set.
ALTER TABLE inodes ADD COLUMN dos_attributes bigint NOT NULL DEFAULT 0;

CREATE TABLE identity_users (
    name               text PRIMARY KEY,
    uid                bigint NOT NULL UNIQUE,
    gid                bigint NOT NULL,
    groups             bigint[] NOT NULL,
    password_hash      text NOT NULL,
    nt_hash            bytea,
    -- JSON array of [share, permission] pairs.
    share_permissions  text NOT NULL
);

CREATE TABLE identity_groups (
    name               text PRIMARY KEY,
    gid                bigint NOT NULL UNIQUE,
    share_permissions  text NOT NULL
);
"#,
    ),
    (
        3,
        "named streams",
        r#"
-- Named streams (SMB alternate data streams): (base, case-folded key) ->
-- (name as created, hidden stream inode). No key on base: the base row goes
-- first and its streams right after (see meta::streams).
CREATE TABLE streams (
    base  bigint NOT NULL,
    key   bytea  NOT NULL,
    name  bytea  NOT NULL,
    ino   bigint NOT NULL REFERENCES inodes (ino),
    PRIMARY KEY (base, key)
);
CREATE INDEX streams_ino ON streams (ino);
"#,
    ),
    (
        4,
        "orphan set",
        r#"
-- The orphan set (ext4's orphan list): inodes a remove kept at nlink 0 for
-- files still open, until reaped; start-up reaps those a crash left behind.
CREATE TABLE orphans (
    ino  bigint PRIMARY KEY REFERENCES inodes (ino) ON DELETE CASCADE
);
"#,
    ),
];

/// The newest schema version this build knows.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Applies every migration newer than the database's version; returns the
/// versions applied. Fails when the database is newer than this build.
pub fn migrate(client: &mut Client) -> Result<Vec<i32>, postgres::Error> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     integer PRIMARY KEY,
             description text NOT NULL,
             applied_at  timestamptz NOT NULL DEFAULT now()
         )",
    )?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = apply_pending(client);
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    let applied = result?;
    unlock?;
    Ok(applied)
}

fn apply_pending(client: &mut Client) -> Result<Vec<i32>, postgres::Error> {
    let current: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    let mut applied = Vec::new();
    for &(version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
            &[&version, &description],
        )?;
        tx.commit()?;
        log::info!("postgres metadata schema migrated to version {version}: {description}");
        applied.push(version);
    }
    Ok(applied)
}

/// The database's schema version (0 when never migrated).
pub fn current_version(client: &mut Client) -> Result<i32, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0))
}
