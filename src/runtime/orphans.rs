//! Start-up collection of orphan inodes: files removed while still open over
//! SMB stay at nlink 0 until their last close; a crash in between leaves them
//! on their store's orphan set (see `MetadataStore::orphans`). Every core,
//! after its shard recovered its WAL and joined the mesh and before it binds
//! its listeners, reaps the orphans whose content it owns and drops that
//! content through the normal path (block map, objects, named streams). The
//! reaps are transactions, so a crash during collection just repeats it at
//! the next start. The last core to finish logs the total, one line.
//!
//! No core binds before every core has finished: a core already serving
//! could otherwise keep a new file for an open (adding it to the orphan set)
//! that a slower core, still collecting, would then reap under that open.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::shutdown::Shutdown;

use crate::meta::MetadataStore;
use crate::nfs::Export;

/// What the cores' collections add up to.
#[derive(Debug)]
pub(super) struct Tally {
    reaped: AtomicU64,
    /// Cores that have not finished yet.
    pending: AtomicUsize,
}

impl Tally {
    pub(super) fn new(cores: usize) -> Arc<Tally> {
        Arc::new(Tally {
            reaped: AtomicU64::new(0),
            pending: AtomicUsize::new(cores),
        })
    }
}

/// Collects this core's part of every store's orphans; `stores[i]` is the
/// store of `exports[i]`. A store shared by several shares is collected once,
/// through the first of them (the inode's content key then names that share;
/// objects stored under another share's id are left to the start-up sweep,
/// which deletes objects of gone inodes).
pub(super) async fn collect(
    core: usize,
    exports: &[Export],
    stores: &[&Arc<dyn MetadataStore>],
    tally: &Tally,
    shutdown: &Shutdown,
) {
    let mut done: Vec<*const ()> = Vec::new();
    for (export, store) in exports.iter().zip(stores) {
        let id = Arc::as_ptr(store) as *const ();
        if done.contains(&id) {
            continue;
        }
        done.push(id);
        match export.fs.collect_orphans(core).await {
            Ok(n) => {
                tally.reaped.fetch_add(n, Ordering::SeqCst);
            }
            Err(e) => log::warn!(
                "core {core}: collecting orphan inodes of share {} failed: {e}",
                export.config.name
            ),
        }
    }
    if tally.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
        let n = tally.reaped.load(Ordering::SeqCst);
        log::info!("reaped {n} orphan inodes (removed while open, then a crash)");
    }
    // Wait for the other cores (a core that failed to start triggers the
    // shutdown instead of finishing).
    while tally.pending.load(Ordering::SeqCst) > 0 && !shutdown.is_triggered() {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
}
