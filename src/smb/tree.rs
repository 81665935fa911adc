//! TREE_CONNECT to a configured share (or IPC$) and TREE_DISCONNECT.

use dittofs_smb_wire::security::FILE_ALL_ACCESS;
use dittofs_smb_wire::session::{
    encode_empty, TreeConnectRequest, TreeConnectResponse, SHAREFLAG_ENCRYPT_DATA, SHARE_TYPE_DISK,
    SHARE_TYPE_PIPE,
};
use dittofs_smb_wire::status::*;

use super::dispatch::Call;
use super::state::{ConnState, Tree};
use super::{ok, Reply, SmbContext};

/// Maximal access on a read-only share: read data/EA/attributes, execute, read
/// control, synchronize.
const READ_ONLY_ACCESS: u32 = 0x0012_00A9;

pub async fn connect(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &TreeConnectRequest,
) -> Result<Reply, u32> {
    let name = req.share_name();
    let (tree, share_type, access) = if name.eq_ignore_ascii_case("IPC$") {
        (Tree::Ipc, SHARE_TYPE_PIPE, READ_ONLY_ACCESS)
    } else {
        let idx = ctx.find_share(name).ok_or(STATUS_BAD_NETWORK_NAME)?;
        let permission = super::access::share_permission(ctx, st, call, idx).await?;
        let access = if ctx.shares[idx].fs.read_only()
            || permission == crate::config::SharePermission::Read
        {
            READ_ONLY_ACCESS
        } else {
            FILE_ALL_ACCESS
        };
        (Tree::Disk(idx), SHARE_TYPE_DISK, access)
    };
    let tid = st.new_tree_id();
    let sess = st
        .sessions
        .get_mut(&call.session_id)
        .ok_or(STATUS_USER_SESSION_DELETED)?;
    let share_flags = if sess.encrypt {
        SHAREFLAG_ENCRYPT_DATA
    } else {
        0
    };
    sess.trees.insert(tid, tree);
    call.tree_id = tid;
    let mut body = Vec::new();
    TreeConnectResponse {
        share_type,
        share_flags,
        capabilities: 0,
        maximal_access: access,
    }
    .encode(&mut body);
    ok(body)
}

pub fn disconnect(st: &mut ConnState, call: &Call) -> Result<Reply, u32> {
    let sess = st
        .sessions
        .get_mut(&call.session_id)
        .ok_or(STATUS_USER_SESSION_DELETED)?;
    if sess.trees.remove(&call.tree_id).is_none() {
        return Err(STATUS_NETWORK_NAME_DELETED);
    }
    let (sid, tid) = (call.session_id, call.tree_id);
    st.opens
        .retain(|_, o| !(o.session_id == sid && o.tree_id == tid));
    super::ipc::drop_pipes(st, sid, Some(tid));
    let mut body = Vec::new();
    encode_empty(&mut body);
    ok(body)
}

/// The disk share a request's tree names.
pub fn disk_share(st: &ConnState, call: &Call) -> Result<usize, u32> {
    let sess = st
        .sessions
        .get(&call.session_id)
        .ok_or(STATUS_USER_SESSION_DELETED)?;
    match sess.trees.get(&call.tree_id) {
        Some(Tree::Disk(i)) => Ok(*i),
        Some(Tree::Ipc) => Err(STATUS_NOT_SUPPORTED),
        None => Err(STATUS_NETWORK_NAME_DELETED),
    }
}
