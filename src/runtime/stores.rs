//! Builds the named stores of the configuration and the shares on top of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use dittofs_shards::{BlockStore, MemoryBlockStore};

use super::{ShareSetup, StartError};
use crate::config::{BlockStoreConfig, Config, MetadataStoreConfig};
use crate::fs::ShareInfo;
use crate::meta::memory::MemoryStore;
use crate::meta::MetadataStore;

/// Opens every configured store and resolves each share's root directory.
pub(super) fn build_shares(config: &Config) -> Result<Vec<ShareSetup>, StartError> {
    let metas: BTreeMap<&str, Arc<dyn MetadataStore>> = config
        .metadata_stores
        .iter()
        .map(|(name, store)| {
            let store: Arc<dyn MetadataStore> = match store {
                MetadataStoreConfig::Memory {} => Arc::new(MemoryStore::new()),
                MetadataStoreConfig::Postgres { .. } => {
                    let opts = crate::meta::postgres::PgOptions::from_config(store)
                        .ok_or_else(|| StartError::Unsupported("postgres options".into()))?;
                    let pg = crate::meta::postgres::PostgresStore::open(&opts).map_err(|e| {
                        StartError::MetadataStore {
                            store: name.clone(),
                            message: e.to_string(),
                        }
                    })?;
                    Arc::new(pg)
                }
            };
            Ok((name.as_str(), store))
        })
        .collect::<Result<_, StartError>>()?;
    let blocks: BTreeMap<&str, Arc<dyn BlockStore>> = config
        .block_stores
        .iter()
        .map(|(name, store)| {
            let store: Arc<dyn BlockStore> = match store {
                BlockStoreConfig::Memory {} => Arc::new(MemoryBlockStore::new()),
            };
            (name.as_str(), store)
        })
        .collect();

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
    Ok(shares)
}
