//! SMB2 CHANGE_NOTIFY (MS-SMB2 3.3.5.19) over the fs core's watch registry.
//!
//! The first request on a directory open registers a watch, which from then
//! on buffers changes between requests (`fs::watch`). As in Samba and
//! Windows, that first request fixes the watch: its completion filter, its
//! WATCH_TREE flag and its output size (later requests on the same open may
//! carry other values, even a zero filter; smbtorture smb2.notify.mask-change
//! and valid-req rely on that). A request returns at once when changes are
//! buffered; otherwise it goes async and waits in the watch's queue (several
//! requests may wait on one open, served oldest first). Changes that do not
//! fit the output size, or that overflowed the watch's buffer, are reported as
//! STATUS_NOTIFY_ENUM_DIR; removal of the watched directory completes the
//! requests with STATUS_DELETE_PENDING. Closing the directory (also by tree
//! disconnect or logoff) completes a waiting request with
//! STATUS_NOTIFY_CLEANUP (`pending::release_closed`); names of a recursive
//! watch come as `a\b\c` relative to the watched directory.

use dittofs_smb_wire::dir::{
    encode_notify, encode_output_response, ChangeNotifyRequest, FileNotify,
};
use dittofs_smb_wire::header::Header;
use dittofs_smb_wire::status::*;
use futures_lite::FutureExt;

use super::create::open_mut;
use super::dispatch::Call;
use super::pending::PendingKind;
use super::state::ConnState;
use super::{error_reply, Reply, SmbContext, IO_BYTES_MAX};
use crate::fs::watch::{self, Outcome, Taken};

/// SMB2_WATCH_TREE in the request's flags.
const WATCH_TREE: u16 = 0x0001;

/// The response to what a watch produced: the records, or ENUM_DIR when they
/// do not fit `max_len` (or were lost).
fn response(outcome: Outcome, max_len: u32) -> Reply {
    let changes = match outcome {
        Outcome::Changes(c) => c,
        Outcome::Overflow => return error_reply(STATUS_NOTIFY_ENUM_DIR),
        Outcome::DeletePending => return error_reply(STATUS_DELETE_PENDING),
    };
    let notes: Vec<FileNotify> = changes
        .into_iter()
        .map(|c| FileNotify {
            action: c.action,
            name: String::from_utf8_lossy(&c.name).replace('/', "\\"),
        })
        .collect();
    match encode_notify(&notes, max_len as usize) {
        Some(r) => {
            let mut body = Vec::with_capacity(8 + r.len());
            encode_output_response(&r, &mut body);
            (STATUS_SUCCESS, body)
        }
        None => error_reply(STATUS_NOTIFY_ENUM_DIR),
    }
}

pub fn change_notify(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    hdr: &Header,
    req: &ChangeNotifyRequest,
) -> Result<Reply, u32> {
    let fid = call.file_id(req.file_id)?;
    let open = open_mut(st, call, req.file_id)?;
    if !open.is_dir {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // Watching is listing: the handle needs FILE_LIST_DIRECTORY (MS-SMB2
    // 3.3.5.19; smbtorture smb2.notify.handle-permissions).
    const FILE_LIST_DIRECTORY: u32 = 0x0000_0001;
    if open.granted_access & FILE_LIST_DIRECTORY == 0 {
        return Err(STATUS_ACCESS_DENIED);
    }
    // MS-SMB2 3.3.5.19: no more than the negotiated MaxTransactSize.
    if req.output_buffer_length > IO_BYTES_MAX {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let (share, ino) = (ctx.shares[open.share].fs.share().id, open.ino);
    let reg = watch::global();
    let id = match st.async_ops.watches.get(&fid) {
        Some(id) => *id,
        None => {
            if req.completion_filter == 0 {
                return Err(STATUS_INVALID_PARAMETER);
            }
            let recursive = req.flags & WATCH_TREE != 0;
            let id = reg.register(
                share,
                ino,
                req.completion_filter,
                recursive,
                req.output_buffer_length,
            );
            st.async_ops.watches.insert(fid, id);
            id
        }
    };
    let max_len = reg
        .reply_bytes_max(id)
        .unwrap_or(0)
        .min(req.output_buffer_length);
    let rx = match reg.take(id) {
        Taken::Ready(o) => return Ok(response(o, max_len)),
        Taken::Gone => return Err(STATUS_NOTIFY_CLEANUP),
        Taken::Wait(rx) => rx,
    };
    let outbox = st.outbox.clone();
    let (op, cancelled) =
        st.async_ops
            .pending
            .start(call, hdr, fid, PendingKind::Notify, outbox)?;
    glommio::spawn_local(async move {
        // A dropped sender means the watch is gone (closed): cleanup answers.
        let changed = async move { rx.await.ok().map(|o| response(o, max_len)) };
        let cancel = async move {
            let _ = cancelled.await;
            None
        };
        if let Some((status, body)) = changed.or(cancel).await {
            op.finish(status, &body);
        }
    })
    .detach();
    Ok(error_reply(STATUS_PENDING))
}
