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
//!
//! Multichannel (MS-SMB2 3.3.5.5.2) uses the same registry: the home
//! connection of an authenticated session publishes a [`Bindable`] (what a
//! bind is checked against, the session's keys and a bounded queue into the
//! home connection loop). A bound channel on another connection (maybe
//! another core) never touches the home `ConnState`: it verifies its requests
//! with its own key and forwards them through that queue (`bind.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use dittofs_smb_wire::crypto::{Cipher, SigningAlgorithm};
use futures_channel::{mpsc, oneshot};

/// Requests of bound channels waiting for their home connection, at most.
pub const FORWARD_QUEUE_MAX: usize = 16;
/// Channels bound to one session besides its home connection, at most.
pub const CHANNELS_MAX: usize = 32;

/// A request of a bound channel for its session's home connection: one
/// plain (verified, decrypted) SMB2 message or compound chain.
pub struct Forwarded {
    pub msg: Vec<u8>,
    /// The unsigned response chain, `None` when there is nothing to send.
    pub reply: oneshot::Sender<Option<Vec<u8>>>,
}

/// Posts into a home connection from any thread (bounded).
pub type HomeSender = mpsc::Sender<Forwarded>;
/// The home connection loop's end.
pub type HomeReceiver = mpsc::Receiver<Forwarded>;

/// A new forwarding queue for a connection.
pub fn home_channel() -> (HomeSender, HomeReceiver) {
    mpsc::channel(FORWARD_QUEUE_MAX)
}

/// What a bind is checked against and the keys a channel borrows, published
/// by the session's home connection when the session authenticates.
pub struct Bindable {
    pub dialect: u16,
    pub signing_algo: SigningAlgorithm,
    pub cipher: Option<Cipher>,
    pub client_guid: [u8; 16],
    pub user: String,
    pub signing_key: Vec<u8>,
    pub encryption_key: Vec<u8>,
    pub decryption_key: Vec<u8>,
    pub home: HomeSender,
    /// Channels bound now (bounded by [`CHANNELS_MAX`]).
    pub channels: AtomicUsize,
    /// Cleared when the session ends (its channels then answer
    /// USER_SESSION_DELETED without asking the home connection).
    pub alive: std::sync::atomic::AtomicBool,
}

/// One bound channel's claim on [`Bindable::channels`]; released on drop.
pub struct ChannelSlot(pub Arc<Bindable>);

impl ChannelSlot {
    /// A slot, unless the session has [`CHANNELS_MAX`] channels already.
    pub fn take(b: &Arc<Bindable>) -> Option<ChannelSlot> {
        let prev = b.channels.fetch_add(1, Ordering::Relaxed);
        if prev >= CHANNELS_MAX {
            b.channels.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(ChannelSlot(b.clone()))
    }
}

impl Drop for ChannelSlot {
    fn drop(&mut self) {
        self.0.channels.fetch_sub(1, Ordering::Relaxed);
    }
}

static BINDABLE: LazyLock<Mutex<HashMap<u64, Arc<Bindable>>>> = LazyLock::new(Default::default);

fn bindable() -> std::sync::MutexGuard<'static, HashMap<u64, Arc<Bindable>>> {
    BINDABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes an authenticated session bindable from other connections.
pub fn publish(sid: u64, b: Bindable) {
    bindable().insert(sid, Arc::new(b));
}

fn end_bindable(sid: u64) {
    if let Some(b) = bindable().remove(&sid) {
        b.alive.store(false, Ordering::Relaxed);
    }
}

/// The bindable session `sid`, if it is still alive.
pub fn lookup(sid: u64) -> Option<Arc<Bindable>> {
    bindable().get(&sid).cloned()
}

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
    end_bindable(sid);
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
        end_bindable(sid);
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
