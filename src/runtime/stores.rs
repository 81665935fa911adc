//! Builds the named stores of the configuration and the shares on top of them.
//!
//! Persistent stores without an explicit `path` live under the data directory
//! (`data_dir`, or the platform default), which is created on start.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;

use dittofs_shards::{BlockStore, MemoryBlockStore};

use super::{ShareSetup, StartError};
use crate::blocks::{FsBlockStore, S3BlockStore};
use crate::config::{default_store_path, BlockStoreConfig, Config, MetadataStoreConfig};
use crate::fs::ShareInfo;
use crate::meta::lmdb::{LmdbOptions, LmdbStore};
use crate::meta::memory::MemoryStore;
use crate::meta::MetadataStore;

/// Creates the data directory (mode 0700) when a store keeps files there by default.
fn prepare_data_dir(config: &Config) -> Result<Option<PathBuf>, StartError> {
    if !config.uses_data_dir() {
        return Ok(None);
    }
    let dir = config.effective_data_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| StartError::DataDir {
            path: dir.clone(),
            source,
        })?;
    log::info!("data directory: {}", dir.display());
    Ok(Some(dir))
}

fn store_path(
    explicit: &Option<PathBuf>,
    data_dir: &Option<PathBuf>,
    kind: &str,
    name: &str,
) -> PathBuf {
    match (explicit, data_dir) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => default_store_path(dir, kind, name),
        // uses_data_dir() was true, so prepare_data_dir returned a directory.
        (None, None) => default_store_path(&Config::default().effective_data_dir(), kind, name),
    }
}

fn open_meta(
    name: &str,
    store: &MetadataStoreConfig,
    data_dir: &Option<PathBuf>,
) -> Result<Arc<dyn MetadataStore>, StartError> {
    Ok(match store {
        MetadataStoreConfig::Memory {} => Arc::new(MemoryStore::new()),
        MetadataStoreConfig::Lmdb {
            path,
            map_size_bytes,
            map_size_max_bytes,
        } => {
            let path = store_path(path, data_dir, "meta", name);
            // Held for the life of the process (the kernel drops it at exit):
            // tells `dittofs user …` that a server owns this store.
            match crate::identity::store::lock_lmdb_dir(&path) {
                Ok(Ok(lock)) => std::mem::forget(lock),
                Ok(Err(pid)) => {
                    return Err(StartError::MetadataStore {
                        store: name.to_owned(),
                        message: format!(
                            "{} is in use by another dittofs process{}",
                            path.display(),
                            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                        ),
                    })
                }
                Err(e) => {
                    return Err(StartError::MetadataStore {
                        store: name.to_owned(),
                        message: format!("{}: {e}", path.display()),
                    })
                }
            }
            let options = LmdbOptions {
                map_size_bytes: *map_size_bytes,
                map_size_max_bytes: *map_size_max_bytes,
                no_sync: false,
            };
            let store = LmdbStore::open(&path, options).map_err(|e| StartError::MetadataStore {
                store: name.to_owned(),
                message: e.to_string(),
            })?;
            log::info!("metadata store {name:?}: LMDB at {}", path.display());
            Arc::new(store)
        }
        MetadataStoreConfig::Postgres { .. } => {
            let opts = crate::meta::postgres::PgOptions::from_config(store)
                .ok_or_else(|| StartError::Unsupported("postgres options".into()))?;
            let pg = crate::meta::postgres::PostgresStore::open(&opts).map_err(|e| {
                StartError::MetadataStore {
                    store: name.to_owned(),
                    message: e.to_string(),
                }
            })?;
            log::info!("metadata store {name:?}: PostgreSQL");
            Arc::new(pg)
        }
    })
}

fn open_blocks(
    name: &str,
    store: &BlockStoreConfig,
    data_dir: &Option<PathBuf>,
) -> Result<Arc<dyn BlockStore>, StartError> {
    let store: Arc<dyn BlockStore> = match store {
        BlockStoreConfig::Memory {} => Arc::new(MemoryBlockStore::new()),
        BlockStoreConfig::Filesystem { path } => {
            let path = store_path(path, data_dir, "blocks", name);
            let store = FsBlockStore::open(&path).map_err(|e| StartError::BlockStore {
                store: name.to_owned(),
                message: format!("{}: {e}", path.display()),
            })?;
            log::info!("block store {name:?}: directory {}", path.display());
            Arc::new(store)
        }
        BlockStoreConfig::S3(s3) => {
            Arc::new(S3BlockStore::open(s3).map_err(|e| StartError::BlockStore {
                store: name.to_owned(),
                message: e.to_string(),
            })?)
        }
    };
    super::faults::wrap_blocks(store)
}

/// Opens every configured store and resolves each share's root directory;
/// also returns the identity store (`Config::identity_store_name`).
pub(super) fn build_shares(
    config: &Config,
) -> Result<(Vec<ShareSetup>, Arc<dyn MetadataStore>), StartError> {
    let data_dir = prepare_data_dir(config)?;
    let mut metas: BTreeMap<&str, Arc<dyn MetadataStore>> = BTreeMap::new();
    for (name, store) in &config.metadata_stores {
        metas.insert(name.as_str(), open_meta(name, store, &data_dir)?);
    }
    let mut blocks: BTreeMap<&str, Arc<dyn BlockStore>> = BTreeMap::new();
    for (name, store) in &config.block_stores {
        blocks.insert(name.as_str(), open_blocks(name, store, &data_dir)?);
    }

    let mut shares = Vec::with_capacity(config.shares.len());
    for (index, share) in config.shares.iter().enumerate() {
        let missing = |kind: &str, name: &str| StartError::MetadataStore {
            store: name.to_owned(),
            message: format!("share {} names an undefined {kind} store", share.name),
        };
        let meta = metas
            .get(share.metadata_store.as_str())
            .ok_or_else(|| missing("metadata", &share.metadata_store))?
            .clone();
        let block_store = blocks
            .get(share.block_store.as_str())
            .ok_or_else(|| missing("block", &share.block_store))?
            .clone();
        let root = futures_lite::future::block_on(meta.share_root(&share.name, share.root_mode))
            .map_err(|e| StartError::MetadataStore {
                store: share.metadata_store.clone(),
                message: e.to_string(),
            })?;
        let id =
            u32::try_from(index).map_err(|_| StartError::Unsupported("too many shares".into()))?;
        shares.push(ShareSetup {
            info: ShareInfo {
                id,
                name: share.name.clone(),
                read_only: share.read_only,
            },
            config: share.clone(),
            meta,
            blocks: block_store,
            root,
        });
    }
    let identity = config
        .identity_store_name()
        .and_then(|name| metas.get(name))
        .cloned()
        .ok_or_else(|| StartError::Unsupported("no identity metadata store".into()))?;
    Ok((shares, identity))
}
