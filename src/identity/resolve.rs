//! Share permission resolution and its per-core cache.
//!
//! [`effective_permission`] is the one rule (user grant → highest group grant →
//! share default); [`PermissionCache`] keeps, per uid, the user and group
//! records it needs so an NFS call costs one hash lookup, and refetches after
//! [`super::generation`] changed or [`CACHE_TTL_MS`] passed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{GuestPolicy, SharePermission};
use crate::meta::{GroupRecord, MetaError, MetadataStore, UserRecord};

/// How long a cached resolution is trusted without a local change: bounds how
/// late a change made by another process (another node on a shared
/// PostgreSQL store) is seen.
pub const CACHE_TTL_MS: u64 = 5_000;
/// Most uids cached per core; the cache is emptied when it is full.
const CACHE_ENTRIES_MAX: usize = 4096;

fn same_share(a: &str, b: &str) -> bool {
    // Share names are unique ignoring case (SMB); a leading '/' is optional.
    a.trim_start_matches('/')
        .eq_ignore_ascii_case(b.trim_start_matches('/'))
}

fn grant_for(grants: &[(String, SharePermission)], share: &str) -> Option<SharePermission> {
    grants
        .iter()
        .find(|(s, _)| same_share(s, share))
        .map(|(_, p)| *p)
}

/// The permission `user` has on `share`:
/// 1. the user's own grant for the share, if any (it may lower what the
///    groups give: `none` locks one member out);
/// 2. else the highest grant any of `groups` has for the share;
/// 3. else `default` (the share's `default_permission`); also for `None`, a
///    caller that maps to no user.
///
/// `groups` are the records of the groups the user is in (primary and
/// supplementary); groups the user is not in must not be passed.
pub fn effective_permission(
    user: Option<&UserRecord>,
    groups: &[GroupRecord],
    share: &str,
    default: SharePermission,
) -> SharePermission {
    let Some(user) = user else {
        return default;
    };
    if let Some(p) = grant_for(&user.share_permissions, share) {
        return p;
    }
    groups
        .iter()
        .filter_map(|g| grant_for(&g.share_permissions, share))
        .max()
        .unwrap_or(default)
}

/// What a guest (no account, or anonymous) gets: the share default capped by
/// the guest policy (`off` = none).
pub fn guest_permission(policy: GuestPolicy, default: SharePermission) -> SharePermission {
    default.min(policy.cap())
}

/// A user and the groups the user is in, as fetched for resolution.
#[derive(Debug)]
struct Resolved {
    user: Option<UserRecord>,
    groups: Vec<GroupRecord>,
}

struct Entry {
    generation: u64,
    fetched: Instant,
    resolved: Rc<Resolved>,
}

/// Per-core cache of uid → (user, groups) for [`effective_permission`].
/// Not `Sync`: each core owns its own.
pub struct PermissionCache {
    store: Arc<dyn MetadataStore>,
    entries: RefCell<HashMap<u32, Entry>>,
}

impl PermissionCache {
    /// A cache reading users and groups from `store` (the identity store).
    pub fn new(store: Arc<dyn MetadataStore>) -> PermissionCache {
        PermissionCache {
            store,
            entries: RefCell::new(HashMap::new()),
        }
    }

    /// The permission of the caller with `uid` on `share` (whose
    /// `default_permission` is `default`).
    pub async fn permission(
        &self,
        uid: u32,
        share: &str,
        default: SharePermission,
    ) -> Result<SharePermission, MetaError> {
        let r = self.resolved(uid).await?;
        Ok(effective_permission(
            r.user.as_ref(),
            &r.groups,
            share,
            default,
        ))
    }

    async fn resolved(&self, uid: u32) -> Result<Rc<Resolved>, MetaError> {
        let generation = super::generation();
        if let Some(e) = self.entries.borrow().get(&uid) {
            if e.generation == generation
                && e.fetched.elapsed() < Duration::from_millis(CACHE_TTL_MS)
            {
                return Ok(e.resolved.clone());
            }
        }
        // No borrow is held across these awaits.
        let resolved = Rc::new(fetch(&*self.store, uid).await?);
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= CACHE_ENTRIES_MAX {
            entries.clear();
        }
        entries.insert(
            uid,
            Entry {
                generation,
                fetched: Instant::now(),
                resolved: resolved.clone(),
            },
        );
        Ok(resolved)
    }
}

async fn fetch(store: &dyn MetadataStore, uid: u32) -> Result<Resolved, MetaError> {
    // uid 0 is reserved: root never maps to a user.
    let user = if uid == 0 {
        None
    } else {
        store.get_user_by_uid(uid).await?
    };
    let mut groups = Vec::new();
    if let Some(u) = &user {
        let mut gids: Vec<u32> = std::iter::once(u.gid)
            .chain(u.groups.iter().copied())
            .collect();
        gids.sort_unstable();
        gids.dedup();
        for gid in gids {
            if let Some(g) = store.get_group_by_gid(gid).await? {
                groups.push(g);
            }
        }
    }
    Ok(Resolved { user, groups })
}
