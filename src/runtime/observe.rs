//! Start-up of the operator side: metrics slots, `/metrics`, the admin API.
//!
//! Kept out of `mod.rs` so the runtime's own changes and these merge apart.
//! The HTTP endpoints start before the cores so `/health` answers (and
//! `/ready` says 503) during WAL recovery; `mod.rs` flips the returned
//! [`Readiness`] once every core has bound its listener.

use std::collections::BTreeSet;
use std::sync::Arc;

use dittofs_shards::Uploader;

use super::{ShareSetup, StartError};
use crate::api::{self, AdminOps, ApiContext, Readiness, StoreProbe};
use crate::config::Config;
use crate::metrics::{self, TimedMeta};

/// Sets up metrics (wrapping the shares' metadata stores in the latency
/// decorator) and starts the HTTP endpoints. `admin` serves users, groups
/// and grants.
pub(super) fn start(
    config: &Config,
    cores: usize,
    shares: &mut [ShareSetup],
    uploader: &Arc<Uploader>,
    admin: Arc<dyn AdminOps>,
    shares_admin: Arc<crate::shares::ShareAdmin>,
) -> Result<Readiness, StartError> {
    let enabled = config.metrics.port != 0;
    metrics::init(cores, enabled);
    let queue = Arc::downgrade(uploader);
    metrics::set_gauges(metrics::Gauges {
        uploader_queue: Some(Box::new(move || {
            queue.upgrade().map_or(0, |u| u.queue_len() as u64)
        })),
        block_bytes: config.cache.block_bytes,
    });
    let mut probes = Vec::new();
    let (mut metas, mut blocks) = (BTreeSet::new(), BTreeSet::new());
    for (share, setup) in config.shares.iter().zip(shares.iter_mut()) {
        if metas.insert(share.metadata_store.clone()) {
            probes.push(StoreProbe::metadata(
                &share.metadata_store,
                setup.meta.clone(),
            ));
        }
        if blocks.insert(share.block_store.clone()) {
            probes.push(StoreProbe::block(&share.block_store, setup.blocks.clone()));
        }
        if enabled {
            setup.meta = TimedMeta::wrap(setup.meta.clone());
        }
    }
    let readiness = Readiness::new();
    api::start_metrics(config)?;
    api::start_api(ApiContext {
        config: config.clone(),
        readiness: readiness.clone(),
        admin,
        tokens_file: config.effective_data_dir().join(api::auth::TOKENS_FILE),
        cores,
        stores: probes,
        shares: shares_admin,
    })?;
    Ok(readiness)
}
