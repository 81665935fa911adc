//! Share permissions, `allowed_clients` and guest logons on the SMB side.
//!
//! Why checked per request and not only at TREE_CONNECT: a configuration
//! reload (SIGHUP) or a grant changed through the admin API must reach trees
//! that are already connected, at their next request, as it does for NFS. The
//! check is one per-core cache lookup ([`PermissionCache`]) and one snapshot
//! of the live share table ([`LiveAccess`]).
//!
//! The rules are the NFS ones (src/nfs/dispatch.rs): `none` or a peer outside
//! `allowed_clients` → ACCESS_DENIED on everything; `read` → ACCESS_DENIED on
//! what changes the share (CREATE asking for write/delete access or creating,
//! WRITE, SET_INFO incl. rename and delete-on-close, the writing FSCTLs).
//! Guests (anonymous, or an unknown user name when `[identity] guest` is not
//! `off`, Samba's "map to guest = bad user") get the share default capped by
//! the policy, run as nobody (65534) and have no session key, so nothing they
//! send or receive is signed.

use std::sync::Arc;

use dittofs_smb_wire::create::{options, FILE_OPEN};
use dittofs_smb_wire::session::{SESSION_FLAG_IS_GUEST, SESSION_FLAG_IS_NULL};
use dittofs_smb_wire::status::*;
use dittofs_smb_wire::Request;

use super::dispatch::Call;
use super::state::{Auth, ConnState, Session, Tree};
use super::SmbContext;
use crate::config::{GuestPolicy, SharePermission};
use crate::fs::Cred;
use crate::identity::{guest_permission, LiveAccess, PermissionCache};

/// uid/gid guests run as (nobody/nogroup).
pub(crate) const GUEST_ID: u32 = 65534;

/// Access bits that change a file or its metadata (MS-SMB2 2.2.13.1.1):
/// write/append data, write EA, delete child, write attributes, DELETE,
/// WRITE_DAC, WRITE_OWNER, GENERIC_ALL, GENERIC_WRITE.
const WRITE_ACCESS_MASK: u32 =
    0x2 | 0x4 | 0x10 | 0x40 | 0x100 | 0x1_0000 | 0x4_0000 | 0x8_0000 | 0x1000_0000 | 0x4000_0000;

/// FSCTLs that change file content or attributes.
const WRITING_FSCTLS: [u32; 4] = [
    0x0014_40F2, // FSCTL_SRV_COPYCHUNK
    0x0014_80F2, // FSCTL_SRV_COPYCHUNK_WRITE
    0x0009_80C8, // FSCTL_SET_ZERO_DATA
    0x0009_00C4, // FSCTL_SET_SPARSE
];

/// What the SMB side needs to decide access; `None` in [`SmbContext`] (unit
/// tests): every authenticated user may do everything the fs core allows and
/// guests are refused.
pub struct AccessPolicy {
    /// Users' and groups' grants (per core).
    pub identity: PermissionCache,
    /// Share defaults, `read_only` and `allowed_clients` now in force.
    pub live: Arc<LiveAccess>,
    /// `[identity] guest`.
    pub guest: GuestPolicy,
}

/// Whether guest and anonymous logons are accepted.
pub fn guest_enabled(ctx: &SmbContext) -> bool {
    ctx.access
        .as_ref()
        .is_some_and(|a| a.guest != GuestPolicy::Off)
}

/// Turns a challenged session into a guest (or, `anonymous`, null) session;
/// returns the SESSION_SETUP response flags.
pub fn make_guest(sess: &mut Session, anonymous: bool) -> u16 {
    sess.user = if anonymous {
        String::new()
    } else {
        "guest".into()
    };
    sess.cred = Cred {
        uid: GUEST_ID,
        gid: GUEST_ID,
        gids: Vec::new(),
    };
    sess.guest = true;
    sess.signing_key.clear();
    sess.encryption_key.clear();
    sess.decryption_key.clear();
    sess.signing_required = false;
    sess.encrypt = false;
    sess.auth = Auth::Valid;
    if anonymous {
        SESSION_FLAG_IS_NULL
    } else {
        SESSION_FLAG_IS_GUEST
    }
}

/// The permission of `call`'s session on disk share `idx` (peer and
/// permission checked): ACCESS_DENIED when the peer is not allowed or the
/// permission is `none`.
pub(crate) async fn share_permission(
    ctx: &SmbContext,
    st: &ConnState,
    call: &Call,
    idx: usize,
) -> Result<SharePermission, u32> {
    let Some(policy) = &ctx.access else {
        return Ok(SharePermission::ReadWrite);
    };
    let sess = st
        .sessions
        .get(&call.session_id)
        .ok_or(STATUS_USER_SESSION_DELETED)?;
    let table = policy.live.snapshot();
    let share = table.get(idx).ok_or(STATUS_NETWORK_NAME_DELETED)?;
    if let Some(peer) = st.peer {
        if !share.is_allowed(peer.ip()) {
            log::info!(
                "{peer}: SMB access to {} refused: not in allowed_clients",
                share.name
            );
            return Err(STATUS_ACCESS_DENIED);
        }
    }
    let permission = if sess.guest {
        guest_permission(policy.guest, share.default_permission)
    } else {
        policy
            .identity
            .permission(sess.cred.uid, &share.name, share.default_permission)
            .await
            .map_err(|e| {
                log::warn!("share {}: resolving uid {}: {e}", share.name, sess.cred.uid);
                STATUS_INTERNAL_ERROR
            })?
    };
    if permission == SharePermission::None {
        log::info!(
            "SMB user {:?} has no permission on {}: refused",
            sess.user,
            share.name
        );
        return Err(STATUS_ACCESS_DENIED);
    }
    Ok(permission)
}

/// Whether `req` changes the share.
fn needs_write(req: &Request<'_>) -> bool {
    match req {
        Request::Create(c) => {
            c.desired_access & WRITE_ACCESS_MASK != 0
                || c.create_disposition != FILE_OPEN
                || c.create_options & options::DELETE_ON_CLOSE != 0
        }
        Request::Write(_) | Request::SetInfo(_) => true,
        Request::Ioctl(i) => WRITING_FSCTLS.contains(&i.ctl_code),
        _ => false,
    }
}

/// The per-request check (called by dispatch before the handler): requests
/// on a disk tree need the peer allowed and a permission other than `none`,
/// and `read-write` (or `admin`) when they change the share.
pub(crate) async fn check_request(
    ctx: &SmbContext,
    st: &ConnState,
    call: &Call,
    req: &Request<'_>,
) -> Result<(), u32> {
    if ctx.access.is_none()
        || matches!(
            req,
            Request::Negotiate(_)
                | Request::SessionSetup(_)
                | Request::Logoff
                | Request::TreeConnect(_)
                | Request::TreeDisconnect
                | Request::Echo
                | Request::Cancel
                | Request::Close(_)
        )
    {
        return Ok(());
    }
    let Some(Tree::Disk(idx)) = st
        .sessions
        .get(&call.session_id)
        .and_then(|s| s.trees.get(&call.tree_id).copied())
    else {
        return Ok(());
    };
    let permission = share_permission(ctx, st, call, idx).await?;
    if permission == SharePermission::Read && needs_write(req) {
        log::debug!("SMB: read-only permission: write request refused");
        return Err(STATUS_ACCESS_DENIED);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dittofs_smb_wire::create::{CreateRequest, FILE_CREATE};

    fn create(desired_access: u32, disposition: u32, opts: u32) -> CreateRequest {
        CreateRequest {
            desired_access,
            create_disposition: disposition,
            create_options: opts,
            ..CreateRequest::default()
        }
    }

    #[test]
    fn write_requests_are_told_apart() {
        let read = 0x0012_0089;
        assert!(!needs_write(&Request::Create(create(read, FILE_OPEN, 0))));
        assert!(needs_write(&Request::Create(create(
            read | 0x2,
            FILE_OPEN,
            0
        ))));
        assert!(needs_write(&Request::Create(create(read, FILE_CREATE, 0))));
        assert!(needs_write(&Request::Create(create(
            read,
            FILE_OPEN,
            options::DELETE_ON_CLOSE
        ))));
        assert!(needs_write(&Request::Create(create(
            0x4000_0000,
            FILE_OPEN,
            0
        ))));
        assert!(!needs_write(&Request::Echo));
    }
}
