//! The PostgreSQL metadata store: inodes, entries, shares and block maps in
//! tables, for deployments where several nodes share one namespace.
//!
//! The sync `postgres` client runs on a pool of dedicated threads
//! ([`pool`]); the trait methods send a job there and await a oneshot, so a
//! data core never blocks on the database. Mutations lock the rows they depend
//! on and are re-run on deadlocks ([`ops`]); reads use one snapshot.
//! Inode ids come from a sequence and are never reused, and every inode of a
//! database carries the database's generation (drawn once when its schema is
//! created), so NFS handles stay valid across server restarts. The schema is
//! versioned ([`schema`]) and migrated when the store opens.
//!
//! Differences to the memory store: none in answers; `stat` counts rows, and
//! the inode limit is not enforced per create (a count would serialize every
//! create against every other).

mod fsck;
mod identity;
mod ops;
mod pool;
mod rows;
pub mod schema;
mod streams;

pub use fsck::{fsck, FsckReport};

#[cfg(test)]
mod tests;

use std::time::Duration;

use postgres::Transaction;

use self::ops::RenameOwned;
use self::pool::{ConnectSettings, Mode, Pool, TxResult};
use self::rows::{i, node, node_from, u, ATTR_COLS_I};
use super::{
    AttrChange, BlockRef, Created, DirListing, DirRecord, GroupRecord, Linked, MetaError,
    MetaFuture, MetadataStore, NewInode, OnExists, RemoveKind, Removed, RenameArgs, Renamed,
    StoreStat, UserRecord, FIRST_COOKIE,
};
use crate::fs::{Attr, DeviceId, FileType, InodeId, PreOpAttr, Timespec};

/// Capacity reported by FSSTAT: 1 TiB (as the memory store).
pub const TOTAL_BYTES: u64 = 1 << 40;
/// Inode figure reported by FSSTAT.
pub const TOTAL_FILES: u64 = 1 << 32;

/// How to reach the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// libpq-style connection string: `postgres://user:pw@host:port/db` or
    /// `host=... port=... user=... dbname=...`.
    pub url: String,
    /// Connections (and worker threads).
    pub pool_size: usize,
    pub connect_timeout_ms: u64,
    pub statement_timeout_ms: u64,
}

impl PgOptions {
    /// The options of a `type = "postgres"` store (None for other types).
    pub fn from_config(store: &crate::config::MetadataStoreConfig) -> Option<PgOptions> {
        match store {
            crate::config::MetadataStoreConfig::Postgres {
                url,
                pool_size,
                connect_timeout_ms,
                statement_timeout_ms,
            } => Some(PgOptions {
                url: url.clone(),
                pool_size: *pool_size,
                connect_timeout_ms: *connect_timeout_ms,
                statement_timeout_ms: *statement_timeout_ms,
            }),
            _ => None,
        }
    }
}

/// Failure to open the store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid postgres connection string: {0}")]
    Url(String),
    #[error("cannot connect to postgres: {0}")]
    Connect(String),
    #[error("postgres schema migration failed: {0}")]
    Migrate(String),
    #[error("database schema version {found} is newer than this dittofs knows ({known})")]
    TooNew { found: i32, known: i32 },
    #[error("cannot start postgres worker threads: {0}")]
    Threads(std::io::Error),
}

fn settings(opts: &PgOptions) -> Result<ConnectSettings, OpenError> {
    let mut config: postgres::Config = opts
        .url
        .parse()
        .map_err(|e: postgres::Error| OpenError::Url(e.to_string()))?;
    config.connect_timeout(Duration::from_millis(opts.connect_timeout_ms.max(1)));
    config.application_name("dittofs");
    Ok(ConnectSettings {
        config,
        statement_timeout_ms: opts.statement_timeout_ms,
    })
}

/// Connects once and applies pending migrations; returns the versions applied.
pub fn migrate(opts: &PgOptions) -> Result<Vec<i32>, OpenError> {
    let settings = settings(opts)?;
    let mut client = settings
        .connect()
        .map_err(|e| OpenError::Connect(e.to_string()))?;
    let found =
        schema::current_version(&mut client).map_err(|e| OpenError::Migrate(e.to_string()))?;
    if found > schema::latest_version() {
        return Err(OpenError::TooNew {
            found,
            known: schema::latest_version(),
        });
    }
    schema::migrate(&mut client).map_err(|e| OpenError::Migrate(e.to_string()))
}

/// PostgreSQL [`MetadataStore`].
pub struct PostgresStore {
    pool: Pool,
    generation: u64,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects, migrates the schema and starts the pool.
    pub fn open(opts: &PgOptions) -> Result<PostgresStore, OpenError> {
        migrate(opts)?;
        let settings = settings(opts)?;
        let mut client = settings
            .connect()
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        let generation: i64 = client
            .query_one("SELECT generation FROM store_info WHERE id = 1", &[])
            .map_err(|e| OpenError::Migrate(e.to_string()))?
            .get(0);
        drop(client);
        let pool = Pool::start(settings, opts.pool_size).map_err(OpenError::Threads)?;
        Ok(PostgresStore {
            pool,
            generation: u(generation),
        })
    }

    fn write<T, F>(&self, f: F) -> MetaFuture<'static, T>
    where
        T: Send + 'static,
        F: FnMut(&mut Transaction<'_>) -> TxResult<T> + Send + 'static,
    {
        self.pool.run(Mode::Write, f)
    }

    fn read<T, F>(&self, f: F) -> MetaFuture<'static, T>
    where
        T: Send + 'static,
        F: FnMut(&mut Transaction<'_>) -> TxResult<T> + Send + 'static,
    {
        self.pool.run(Mode::Read, f)
    }
}

fn block_from(row: &postgres::Row, at: usize) -> (u64, BlockRef) {
    (
        u(row.get(at)),
        BlockRef {
            key: row.get(at + 1),
            len: u(row.get(at + 2)),
            generation: u(row.get(at + 3)),
        },
    )
}

impl MetadataStore for PostgresStore {
    fn share_root<'a>(&'a self, name: &'a str, root_mode: u32) -> MetaFuture<'a, InodeId> {
        let name = name.to_owned();
        let generation = self.generation;
        self.write(move |tx| {
            if let Some(row) = tx.query_opt("SELECT root FROM shares WHERE name = $1", &[&name])? {
                return Ok(u(row.get(0)));
            }
            let new = NewInode {
                ftype: FileType::Directory,
                mode: root_mode,
                uid: 0,
                gid: 0,
                rdev: DeviceId::default(),
                target: Vec::new(),
                verifier: None,
                on_exists: OnExists::Fail,
            };
            let attr = ops::insert_inode(tx, generation, &new, None, Timespec::now())?;
            tx.execute(
                "INSERT INTO shares (name, root) VALUES ($1, $2)",
                &[&name, &i(attr.ino)],
            )?;
            Ok(attr.ino)
        })
    }

    fn get(&self, ino: InodeId) -> MetaFuture<'_, Attr> {
        self.read(move |tx| Ok(node(tx, ino)?.attr))
    }

    fn lookup<'a>(&'a self, dir: InodeId, name: &'a [u8]) -> MetaFuture<'a, Attr> {
        let name = name.to_vec();
        self.read(move |tx| {
            let d = rows::dir_node(tx, dir)?;
            match &name[..] {
                b"." => Ok(d.attr),
                b".." => Ok(node(tx, d.parent)?.attr),
                _ => {
                    let ino = rows::entry(tx, dir, &name)?.ok_or(MetaError::NoEntry)?;
                    Ok(node(tx, ino)?.attr)
                }
            }
        })
    }

    fn readlink(&self, ino: InodeId) -> MetaFuture<'_, Vec<u8>> {
        self.read(move |tx| {
            let row = tx
                .query_opt(
                    "SELECT ftype, target FROM inodes WHERE ino = $1",
                    &[&i(ino)],
                )?
                .ok_or(MetaError::NoInode(ino))?;
            if row.get::<_, i16>(0) != rows::ftype_code(FileType::Symlink) {
                return Err(MetaError::InvalidArgument.into());
            }
            Ok(row.get::<_, Option<Vec<u8>>>(1).unwrap_or_default())
        })
    }

    fn create<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, Created> {
        let (name, new, generation) = (name.to_vec(), new.clone(), self.generation);
        self.write(move |tx| ops::create(tx, generation, dir, &name, &new, now))
    }

    fn remove<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> MetaFuture<'a, Removed> {
        let name = name.to_vec();
        self.write(move |tx| ops::remove(tx, dir, &name, kind, expect, now))
    }

    fn reap(&self, ino: InodeId) -> MetaFuture<'_, Option<Attr>> {
        self.write(move |tx| ops::reap(tx, ino))
    }

    fn orphans(&self, after: InodeId, max: usize) -> MetaFuture<'_, Vec<InodeId>> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.read(move |tx| {
            Ok(tx
                .query(
                    "SELECT ino FROM orphans WHERE ino > $1 ORDER BY ino LIMIT $2",
                    &[&i(after), &limit],
                )?
                .iter()
                .map(|r| u(r.get(0)))
                .collect())
        })
    }

    fn rename<'a>(&'a self, args: RenameArgs<'a>, now: Timespec) -> MetaFuture<'a, Renamed> {
        let a = RenameOwned {
            from_dir: args.from_dir,
            from_name: args.from_name.to_vec(),
            to_dir: args.to_dir,
            to_name: args.to_name.to_vec(),
            expect_src: args.expect_src,
            expect_dst: args.expect_dst,
        };
        self.write(move |tx| ops::rename(tx, &a, now))
    }

    fn link<'a>(
        &'a self,
        ino: InodeId,
        dir: InodeId,
        name: &'a [u8],
        now: Timespec,
    ) -> MetaFuture<'a, Linked> {
        let name = name.to_vec();
        self.write(move |tx| ops::link(tx, ino, dir, &name, now))
    }

    fn set_attr<'a>(
        &'a self,
        ino: InodeId,
        change: &'a AttrChange,
        now: Timespec,
    ) -> MetaFuture<'a, (PreOpAttr, Attr)> {
        let change = change.clone();
        self.write(move |tx| ops::set_attr(tx, ino, &change, now))
    }

    fn readdir(
        &self,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> MetaFuture<'_, DirListing> {
        let generation = self.generation;
        self.read(move |tx| {
            let d = rows::dir_node(tx, dir)?;
            let start = after.max(FIRST_COOKIE - 1).saturating_add(1);
            let limit = i64::try_from(max).unwrap_or(i64::MAX - 1).saturating_add(1);
            let sql = format!(
                "SELECT d.name, d.ino, d.cookie, {ATTR_COLS_I} FROM dirents d \
                 LEFT JOIN inodes i ON i.ino = d.ino \
                 WHERE d.dir = $1 AND d.cookie >= $2 ORDER BY d.cookie LIMIT $3"
            );
            let start = i64::try_from(start).unwrap_or(i64::MAX);
            let found = tx.query(&sql, &[&i(dir), &start, &limit])?;
            let eof = found.len() <= max;
            let mut entries = Vec::with_capacity(found.len().min(max));
            for row in found.iter().take(max) {
                let ino = u(row.get(1));
                let attr = if with_attrs {
                    if row.get::<_, Option<i64>>(3).is_none() {
                        return Err(MetaError::NoInode(ino).into());
                    }
                    Some(node_from(row, 3)?.attr)
                } else {
                    None
                };
                entries.push(DirRecord {
                    name: row.get(0),
                    ino,
                    cookie: u(row.get(2)),
                    attr,
                });
            }
            Ok(DirListing {
                verifier: generation ^ dir.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                parent: d.parent,
                dir: d.attr,
                entries,
                eof,
            })
        })
    }

    fn create_verifier(&self, ino: InodeId) -> MetaFuture<'_, Option<[u8; 8]>> {
        self.read(move |tx| {
            let row = tx
                .query_opt("SELECT verifier FROM inodes WHERE ino = $1", &[&i(ino)])?
                .ok_or(MetaError::NoInode(ino))?;
            let v: Option<Vec<u8>> = row.get(0);
            Ok(v.and_then(|v| <[u8; 8]>::try_from(&v[..]).ok()))
        })
    }

    fn stat(&self) -> MetaFuture<'_, StoreStat> {
        self.read(move |tx| {
            let row = tx.query_one(
                "SELECT count(*)::bigint, \
                 coalesce(sum(size) FILTER (WHERE ftype = $1), 0)::bigint FROM inodes",
                &[&rows::ftype_code(FileType::Regular)],
            )?;
            let used_files = u(row.get(0));
            let used_bytes = u(row.get(1));
            Ok(StoreStat {
                total_bytes: TOTAL_BYTES,
                used_bytes: used_bytes.min(TOTAL_BYTES),
                total_files: TOTAL_FILES,
                used_files,
            })
        })
    }

    fn put_block(
        &self,
        ino: InodeId,
        index: u64,
        block: BlockRef,
    ) -> MetaFuture<'_, Option<BlockRef>> {
        self.write(move |tx| {
            rows::lock_block_map(tx, ino)?;
            let old = tx
                .query_opt(
                    "SELECT idx, key, len, generation FROM blocks WHERE ino = $1 AND idx = $2",
                    &[&i(ino), &i(index)],
                )?
                .map(|r| block_from(&r, 0).1);
            tx.execute(
                "INSERT INTO blocks (ino, idx, key, len, generation) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (ino, idx) DO UPDATE SET key = EXCLUDED.key, len = EXCLUDED.len, \
                 generation = EXCLUDED.generation",
                &[
                    &i(ino),
                    &i(index),
                    &block.key,
                    &i(block.len),
                    &i(block.generation),
                ],
            )?;
            Ok(old)
        })
    }

    fn get_block(&self, ino: InodeId, index: u64) -> MetaFuture<'_, Option<BlockRef>> {
        self.read(move |tx| {
            Ok(tx
                .query_opt(
                    "SELECT idx, key, len, generation FROM blocks WHERE ino = $1 AND idx = $2",
                    &[&i(ino), &i(index)],
                )?
                .map(|r| block_from(&r, 0).1))
        })
    }

    fn blocks(&self, ino: InodeId) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        self.read(move |tx| {
            Ok(tx
                .query(
                    "SELECT idx, key, len, generation FROM blocks WHERE ino = $1 ORDER BY idx",
                    &[&i(ino)],
                )?
                .iter()
                .map(|r| block_from(r, 0))
                .collect())
        })
    }

    fn drop_blocks(&self, ino: InodeId, from_index: u64) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        self.write(move |tx| {
            rows::lock_block_map(tx, ino)?;
            let mut dropped: Vec<_> = tx
                .query(
                    "DELETE FROM blocks WHERE ino = $1 AND idx >= $2 \
                     RETURNING idx, key, len, generation",
                    &[&i(ino), &i(from_index)],
                )?
                .iter()
                .map(|r| block_from(r, 0))
                .collect();
            dropped.sort_by_key(|b| b.0);
            Ok(dropped)
        })
    }

    fn put_user<'a>(&'a self, user: &'a UserRecord) -> MetaFuture<'a, ()> {
        let user = user.clone();
        self.write(move |tx| identity::put_user(tx, &user))
    }

    fn get_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<UserRecord>> {
        let name = name.to_owned();
        self.read(move |tx| identity::get_user(tx, &name))
    }

    fn get_user_by_uid(&self, uid: u32) -> MetaFuture<'_, Option<UserRecord>> {
        self.read(move |tx| identity::get_user_by_uid(tx, uid))
    }

    fn remove_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        let name = name.to_owned();
        self.write(move |tx| identity::remove_user(tx, &name))
    }

    fn list_users(&self) -> MetaFuture<'_, Vec<UserRecord>> {
        self.read(identity::list_users)
    }

    fn put_group<'a>(&'a self, group: &'a GroupRecord) -> MetaFuture<'a, ()> {
        let group = group.clone();
        self.write(move |tx| identity::put_group(tx, &group))
    }

    fn get_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<GroupRecord>> {
        let name = name.to_owned();
        self.read(move |tx| identity::get_group(tx, &name))
    }

    fn get_group_by_gid(&self, gid: u32) -> MetaFuture<'_, Option<GroupRecord>> {
        self.read(move |tx| identity::get_group_by_gid(tx, gid))
    }

    fn remove_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        let name = name.to_owned();
        self.write(move |tx| identity::remove_group(tx, &name))
    }

    fn list_groups(&self) -> MetaFuture<'_, Vec<GroupRecord>> {
        self.read(identity::list_groups)
    }

    fn set_dos_attributes(&self, ino: InodeId, attributes: u32) -> MetaFuture<'_, ()> {
        self.write(move |tx| identity::set_dos_attributes(tx, ino, attributes))
    }

    fn get_dos_attributes(&self, ino: InodeId) -> MetaFuture<'_, u32> {
        self.read(move |tx| identity::get_dos_attributes(tx, ino))
    }

    fn create_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::StreamCreated> {
        let (key, name, new, generation) =
            (key.to_vec(), name.to_vec(), new.clone(), self.generation);
        self.write(move |tx| streams::create(tx, generation, base, &key, &name, &new, now))
    }

    fn lookup_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
    ) -> MetaFuture<'a, Option<crate::meta::StreamRecord>> {
        let key = key.to_vec();
        self.read(move |tx| streams::lookup(tx, base, &key))
    }

    fn list_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<crate::meta::StreamRecord>> {
        self.read(move |tx| streams::list(tx, base))
    }

    fn remove_stream<'a>(&'a self, base: InodeId, key: &'a [u8]) -> MetaFuture<'a, Option<Attr>> {
        let key = key.to_vec();
        self.write(move |tx| streams::remove(tx, base, &key))
    }

    fn rename_stream<'a>(
        &'a self,
        base: InodeId,
        from_key: &'a [u8],
        to_key: &'a [u8],
        to_name: &'a [u8],
        replace: bool,
    ) -> MetaFuture<'a, Option<Attr>> {
        let (from, to, name) = (from_key.to_vec(), to_key.to_vec(), to_name.to_vec());
        self.write(move |tx| streams::rename(tx, base, &from, &to, &name, replace))
    }
}
