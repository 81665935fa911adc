//! Test-only fault injection through environment variables, so the tests that
//! start the real binary can make its disk and block store misbehave.
//!
//! Why environment variables and not config keys: these knobs exist only for
//! the fault tests (tests/faults.rs, the kernel-client power-cut rounds); an
//! operator must never find them in config.toml. A server started with one
//! logs a warning at start.
//!
//! - `DITTOFS_TEST_WAL_FAULTS`: a [`FaultPlan`] spec applied to every core's
//!   WAL (each core counts its own operations), e.g. `sync_eio@3`,
//!   `tear@5,crash=abort`, `enospc@2+`, `seed=7,sync_eio%20000`.
//! - `DITTOFS_TEST_BLOCK_FAULTS`: wraps every block store in a
//!   [`FaultyBlockStore`]: `fail_every=N` (every Nth call fails like an HTTP
//!   503), `fail_for_ms=T` / `nospace_for_ms=T` / `hang_for_ms=T` (every call
//!   fails / fails with ENOSPC / hangs, for the first T ms after start, then
//!   the store recovers).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use dittofs_shards::wal::faulty::{FaultPlan, FaultyStorage};
use dittofs_shards::wal::SegmentStorage;
use dittofs_shards::BlockStore;

use super::StartError;
use crate::blocks::{FaultHandle, FaultyBlockStore};

const WAL_VAR: &str = "DITTOFS_TEST_WAL_FAULTS";
const BLOCK_VAR: &str = "DITTOFS_TEST_BLOCK_FAULTS";

/// The WAL fault plan of `DITTOFS_TEST_WAL_FAULTS`, if set.
pub(super) fn wal_plan() -> Result<Option<FaultPlan>, StartError> {
    let Ok(spec) = std::env::var(WAL_VAR) else {
        return Ok(None);
    };
    let plan =
        FaultPlan::parse(&spec).map_err(|e| StartError::Unsupported(format!("{WAL_VAR}: {e}")))?;
    log::warn!("{WAL_VAR}={spec}: injecting WAL faults (test only)");
    Ok(Some(plan))
}

/// Storage for this core's WAL that injects `plan`'s faults.
pub(super) fn wal_storage(plan: &FaultPlan) -> Rc<dyn SegmentStorage> {
    Rc::new(FaultyStorage::new(plan.clone()))
}

/// How the block stores misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockFault {
    FailEvery(u64),
    FailFor(u64),
    NoSpaceFor(u64),
    HangFor(u64),
}

fn parse_block_fault(spec: &str) -> Option<BlockFault> {
    let (key, value) = spec.trim().split_once('=')?;
    let n: u64 = value.trim().parse().ok()?;
    Some(match key.trim() {
        "fail_every" => BlockFault::FailEvery(n),
        "fail_for_ms" => BlockFault::FailFor(n),
        "nospace_for_ms" => BlockFault::NoSpaceFor(n),
        "hang_for_ms" => BlockFault::HangFor(n),
        _ => return None,
    })
}

/// Wraps `store` per `DITTOFS_TEST_BLOCK_FAULTS`, if set.
pub(super) fn wrap_blocks(store: Arc<dyn BlockStore>) -> Result<Arc<dyn BlockStore>, StartError> {
    let Ok(spec) = std::env::var(BLOCK_VAR) else {
        return Ok(store);
    };
    let fault = parse_block_fault(&spec).ok_or_else(|| {
        StartError::Unsupported(format!(
            "{BLOCK_VAR}={spec:?}: expected fail_every=N, fail_for_ms=T, nospace_for_ms=T or hang_for_ms=T"
        ))
    })?;
    log::warn!("{BLOCK_VAR}={spec}: injecting block store faults (test only)");
    let faulty = FaultyBlockStore::new(store);
    let handle = faulty.handle();
    let for_ms = match fault {
        BlockFault::FailEvery(n) => {
            handle.fail_every_nth(n);
            None
        }
        BlockFault::FailFor(ms) => {
            handle.fail_all(FaultHandle::io_error());
            Some(ms)
        }
        BlockFault::NoSpaceFor(ms) => {
            handle.no_space();
            Some(ms)
        }
        BlockFault::HangFor(ms) => {
            handle.hang_ms(ms);
            Some(ms)
        }
    };
    if let Some(ms) = for_ms {
        let cleared = std::thread::Builder::new()
            .name("dittofs-test-faults".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                log::warn!("{BLOCK_VAR}: block store fault cleared after {ms} ms");
                handle.clear();
            });
        if let Err(e) = cleared {
            return Err(StartError::Unsupported(format!("{BLOCK_VAR}: {e}")));
        }
    }
    Ok(Arc::new(faulty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_fault_specs() {
        assert_eq!(
            parse_block_fault("fail_every=3"),
            Some(BlockFault::FailEvery(3))
        );
        assert_eq!(
            parse_block_fault(" hang_for_ms = 500"),
            Some(BlockFault::HangFor(500))
        );
        assert_eq!(
            parse_block_fault("nospace_for_ms=1"),
            Some(BlockFault::NoSpaceFor(1))
        );
        assert_eq!(
            parse_block_fault("fail_for_ms=9"),
            Some(BlockFault::FailFor(9))
        );
        for bad in ["", "fail_every", "fail_every=x", "explode=1"] {
            assert_eq!(parse_block_fault(bad), None, "{bad}");
        }
    }
}
