//! SMB2 CHANGE_NOTIFY (MS-SMB2 3.3.5.19) over the fs core's watch registry.
//!
//! The first request on a directory open registers a watch, which from then
//! on buffers changes between requests (`fs::watch`). A request returns at
//! once when changes are buffered; otherwise it goes async and the detached
//! task completes it at the first change. Changes that do not fit the
//! client's output buffer, or that overflowed the watch's buffer, are reported
//! as STATUS_NOTIFY_ENUM_DIR. Closing the directory completes a waiting
//! request with STATUS_NOTIFY_CLEANUP (`pending::release_closed`).

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
use super::{error_reply, Reply, SmbContext};
use crate::fs::watch::{self, Change, Taken};

/// The response to a set of changes: the records, or ENUM_DIR when they do
/// not fit `max_len` (or were lost).
fn response(changes: Option<Vec<Change>>, max_len: u32) -> Reply {
    let records = changes.and_then(|c| {
        let notes: Vec<FileNotify> = c
            .into_iter()
            .map(|c| FileNotify {
                action: c.action,
                name: String::from_utf8_lossy(&c.name).into_owned(),
            })
            .collect();
        encode_notify(&notes, max_len as usize)
    });
    match records {
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
    if req.completion_filter == 0 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let (share, ino) = (ctx.shares[open.share].fs.share().id, open.ino);
    let reg = watch::global();
    let id = *st
        .async_ops
        .watches
        .entry(fid)
        .or_insert_with(|| reg.register(share, ino, req.completion_filter));
    reg.set_filter(id, req.completion_filter);
    let max_len = req.output_buffer_length;
    let rx = match reg.take(id) {
        Taken::Changes(c) => return Ok(response(Some(c), max_len)),
        Taken::Overflow => return Ok(response(None, max_len)),
        Taken::Gone => return Err(STATUS_NOTIFY_CLEANUP),
        Taken::Wait(rx) => rx,
    };
    let outbox = st.outbox.clone();
    let (op, cancelled) =
        st.async_ops
            .pending
            .start(call, hdr, fid, PendingKind::Notify, outbox)?;
    glommio::spawn_local(async move {
        let changed = async move {
            let mut rx = rx;
            loop {
                if rx.await.is_err() {
                    // The watch is gone (closed); cleanup answers the request.
                    return None;
                }
                match reg.take(id) {
                    Taken::Changes(c) => return Some(response(Some(c), max_len)),
                    Taken::Overflow => return Some(response(None, max_len)),
                    Taken::Gone => return None,
                    Taken::Wait(next) => rx = next,
                }
            }
        };
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
