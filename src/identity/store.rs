//! Opening the identity store outside the server (the CLI), and the lock that
//! tells the CLI a server is using an LMDB store.
//!
//! An LMDB environment may be opened by several processes, but the server
//! resizes its map and caches resolutions without knowing about other
//! writers, so the server holds an exclusive `flock` on `dittofs.lock` in the
//! environment's directory for its whole life, and the CLI refuses to write
//! when it cannot take it ([`StoreOpenError::InUse`]: use the REST API). A
//! PostgreSQL store is shared by design and needs no lock; a memory store
//! cannot be managed from another process at all.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{default_store_path, Config, MetadataStoreConfig};
use crate::meta::lmdb::{LmdbOptions, LmdbStore};
use crate::meta::MetadataStore;

/// Name of the lock file in an LMDB environment's directory.
pub const LOCK_FILE: &str = "dittofs.lock";

/// Why the identity store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    #[error("no metadata store for identities (set [identity] metadata_store)")]
    NoStore,
    #[error("[identity] metadata_store names no [metadata_stores.{0}]")]
    Undefined(String),
    #[error("metadata store {store:?} at {} is in use by a running dittofs server{}; manage users through it: --server URL (or DITTOFS_API)", path.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    InUse {
        store: String,
        path: PathBuf,
        pid: Option<u32>,
    },
    #[error("metadata store {store:?} is a memory store: it lives only inside a running server; manage its users with --server URL (or DITTOFS_API)")]
    Memory { store: String },
    #[error("metadata store {store:?}: {message}")]
    Open { store: String, message: String },
}

/// Takes the exclusive lock of the LMDB environment in `dir` (created 0700 if
/// missing). `Ok(Err(pid))` when another process holds it (its pid when it
/// wrote one). The lock lasts as long as the returned file is open.
pub fn lock_lmdb_dir(dir: &Path) -> std::io::Result<Result<File, Option<u32>>> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let pid = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Ok(Err(pid));
        }
        return Err(err);
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Ok(file))
}

/// The directory of LMDB store `name` as the server resolves it.
pub fn lmdb_dir(config: &Config, name: &str, path: &Option<PathBuf>) -> PathBuf {
    match path {
        Some(p) => p.clone(),
        None => default_store_path(&config.effective_data_dir(), "meta", name),
    }
}

/// Opens the identity store of `config` for the CLI (server stopped). With
/// LMDB the returned lock file must be kept open while the store is used.
pub fn open_for_cli(
    config: &Config,
) -> Result<(Arc<dyn MetadataStore>, Option<File>), StoreOpenError> {
    let name = config
        .identity_store_name()
        .ok_or(StoreOpenError::NoStore)?;
    let store = config
        .metadata_stores
        .get(name)
        .ok_or_else(|| StoreOpenError::Undefined(name.to_owned()))?;
    let open_err = |message: String| StoreOpenError::Open {
        store: name.to_owned(),
        message,
    };
    match store {
        MetadataStoreConfig::Memory {} => Err(StoreOpenError::Memory {
            store: name.to_owned(),
        }),
        MetadataStoreConfig::Lmdb {
            path,
            map_size_bytes,
            map_size_max_bytes,
        } => {
            let dir = lmdb_dir(config, name, path);
            let lock = match lock_lmdb_dir(&dir) {
                Ok(Ok(file)) => file,
                Ok(Err(pid)) => {
                    return Err(StoreOpenError::InUse {
                        store: name.to_owned(),
                        path: dir,
                        pid,
                    })
                }
                Err(e) => return Err(open_err(format!("{}: {e}", dir.display()))),
            };
            let options = LmdbOptions {
                map_size_bytes: *map_size_bytes,
                map_size_max_bytes: *map_size_max_bytes,
                no_sync: false,
            };
            let lmdb = LmdbStore::open(&dir, options).map_err(|e| open_err(e.to_string()))?;
            Ok((Arc::new(lmdb), Some(lock)))
        }
        MetadataStoreConfig::Postgres { .. } => {
            let opts = crate::meta::postgres::PgOptions::from_config(store)
                .ok_or_else(|| open_err("not a postgres store".into()))?;
            let pg = crate::meta::postgres::PostgresStore::open(&opts)
                .map_err(|e| open_err(e.to_string()))?;
            Ok((Arc::new(pg), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("meta");
        let held = lock_lmdb_dir(&env).unwrap().unwrap();
        // flock locks are per open file description: a second open conflicts
        // even within one process.
        assert_eq!(
            lock_lmdb_dir(&env).unwrap().unwrap_err(),
            Some(std::process::id())
        );
        drop(held);
        let again = lock_lmdb_dir(&env).unwrap();
        assert!(again.is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
