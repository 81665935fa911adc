//! Process-wide view of authenticated sessions, for PreviousSessionId
//! (MS-SMB2 3.3.5.5.3): a client that reconnects names its old session, which
//! may live on another connection (and core); that session is then ended.
//!
//! Why a registry and a revoked set instead of reaching into the other
//! connection: a connection's state is owned by its task and never locked. The
//! reconnecting side marks the old session revoked; the owning connection drops
//! it (and its opens) at its next request on it, answering
//! USER_SESSION_DELETED. [`REVOKED_COUNT`] keeps the check to one relaxed load
//! when nothing is revoked.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

static LIVE: LazyLock<Mutex<HashMap<u64, String>>> = LazyLock::new(Default::default);
static REVOKED: LazyLock<Mutex<HashSet<u64>>> = LazyLock::new(Default::default);
static REVOKED_COUNT: AtomicUsize = AtomicUsize::new(0);

fn live() -> std::sync::MutexGuard<'static, HashMap<u64, String>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

fn revoked() -> std::sync::MutexGuard<'static, HashSet<u64>> {
    REVOKED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session finished authenticating as `user`.
pub fn register(sid: u64, user: &str) {
    live().insert(sid, user.to_owned());
}

/// A session ended (LOGOFF, failed setup, connection end).
pub fn unregister(sid: u64) {
    live().remove(&sid);
    if REVOKED_COUNT.load(Ordering::Relaxed) != 0 && revoked().remove(&sid) {
        REVOKED_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// PreviousSessionId of a new session of `user`: marks that session revoked
/// when it exists and belongs to the same user.
pub fn revoke_previous(prev: u64, user: &str) -> bool {
    let same_user = live().get(&prev).is_some_and(|u| u == user);
    if same_user && revoked().insert(prev) {
        REVOKED_COUNT.fetch_add(1, Ordering::Relaxed);
    }
    same_user
}

/// Whether `sid` was revoked (consumes the mark and the registration).
pub fn take_revoked(sid: u64) -> bool {
    if REVOKED_COUNT.load(Ordering::Relaxed) == 0 {
        return false;
    }
    if revoked().remove(&sid) {
        REVOKED_COUNT.fetch_sub(1, Ordering::Relaxed);
        live().remove(&sid);
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_session_of_the_same_user_only() {
        register(0x1_0011, "alice");
        assert!(!revoke_previous(0x1_0011, "bob"));
        assert!(!take_revoked(0x1_0011));
        assert!(revoke_previous(0x1_0011, "alice"));
        assert!(take_revoked(0x1_0011));
        assert!(!take_revoked(0x1_0011), "consumed");
        assert!(!revoke_previous(0x1_0011, "alice"), "unregistered");
        register(0x2_0011, "carol");
        assert!(revoke_previous(0x2_0011, "carol"));
        unregister(0x2_0011);
        assert!(!take_revoked(0x2_0011));
    }
}
