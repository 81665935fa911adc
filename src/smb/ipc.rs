//! The IPC$ tree: the `srvsvc` named pipe, so clients can list shares
//! (`smbclient -L`, Explorer, Finder).
//!
//! Why only srvsvc: browsing shares is the one thing clients need IPC$ for
//! against a file server; every other pipe name answers
//! STATUS_OBJECT_NAME_NOT_FOUND and file operations on IPC$ are refused.
//! A pipe open is kept in [`ConnState::pipes`], not with the file opens: it
//! has no inode, and every file handler can keep assuming a disk share. The
//! DCE/RPC association is a small state machine over the pure codecs in
//! `dittofs_smb_wire::{dcerpc, srvsvc}`: WRITE (or the input of an
//! FSCTL_PIPE_TRANSCEIVE) feeds PDUs in; BIND/ALTER_CONTEXT are acknowledged,
//! a REQUEST (possibly in fragments) runs and queues its RESPONSE fragments
//! (each within the client's max_recv_frag); READ (or the transceive output)
//! returns one queued PDU (message mode), STATUS_BUFFER_OVERFLOW with the
//! first part when the caller's buffer is shorter, the rest on the next READ.
//!
//! Which shares are listed: every disk share the session's user has at least
//! read permission on (the identity resolution NFS uses: own grant, groups,
//! share default), plus IPC$.

use std::collections::VecDeque;

use dittofs_smb_wire::create::{CreateRequest, CreateResponse, FileId, FileTimes, FILE_OPENED};
use dittofs_smb_wire::dcerpc::{self as rpc, PduHeader};
use dittofs_smb_wire::fscc::attr;
use dittofs_smb_wire::io::{ReadRequest, ReadResponse, WriteRequest, WriteResponse};
use dittofs_smb_wire::ioctl::{IoctlRequest, IoctlResponse};
use dittofs_smb_wire::srvsvc::{self, ShareInfo};
use dittofs_smb_wire::status::*;

use super::dispatch::Call;
use super::state::{ConnState, Tree};
use super::{ok, Reply, SmbContext};
use crate::config::SharePermission;
use crate::fs::Cred;

/// STATUS_PIPE_EMPTY: a READ with no queued reply.
pub const STATUS_PIPE_EMPTY: u32 = 0xC000_00D9;
/// Fragment size the server offers (what Windows uses).
const FRAG_BYTES_MAX: u16 = 4280;
/// Largest request stub reassembled from fragments.
const STUB_BYTES_MAX: usize = 64 << 10;
/// Most reply bytes queued on one pipe (a client that only writes).
const QUEUED_BYTES_MAX: usize = 1 << 20;
/// The secondary address a BIND_ACK names.
const SEC_ADDR: &str = "\\PIPE\\srvsvc";

/// One open of the srvsvc pipe.
#[derive(Default)]
pub struct Pipe {
    pub session_id: u64,
    pub tree_id: u32,
    /// Context ids accepted by BIND/ALTER_CONTEXT.
    contexts: Vec<u16>,
    assoc_group_id: u32,
    /// Fragment size replies must fit (the client's max_recv_frag).
    max_xmit_frag: usize,
    /// Bytes of a PDU not yet complete.
    partial: Vec<u8>,
    /// A fragmented REQUEST being reassembled: (call id, context, opnum, stub).
    pending: Option<(u32, u16, u16, Vec<u8>)>,
    /// Reply PDUs not yet read; the front one may be partly read.
    out: VecDeque<Vec<u8>>,
}

impl Pipe {
    fn queued(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }

    /// Takes up to `max` bytes of the front reply PDU: (bytes, more of this PDU left).
    fn take(&mut self, max: usize) -> Option<(Vec<u8>, bool)> {
        let front = self.out.front_mut()?;
        if front.len() <= max {
            return self.out.pop_front().map(|m| (m, false));
        }
        let rest = front.split_off(max);
        let head = std::mem::replace(front, rest);
        Some((head, true))
    }
}

/// Whether the request's tree is IPC$.
pub(crate) fn is_ipc(st: &ConnState, call: &Call) -> bool {
    st.sessions
        .get(&call.session_id)
        .and_then(|s| s.trees.get(&call.tree_id))
        .is_some_and(|t| matches!(t, Tree::Ipc))
}

/// The pipe a request's file id names, if it is one.
fn pipe_mut<'a>(st: &'a mut ConnState, call: &Call, id: FileId) -> Option<&'a mut Pipe> {
    let vid = call.file_id(id).ok()?;
    st.pipes
        .get_mut(&vid)
        .filter(|p| p.session_id == call.session_id)
}

/// Whether `id` names a pipe of this session (file handlers refuse it).
pub(crate) fn is_pipe(st: &ConnState, call: &Call, id: FileId) -> bool {
    call.file_id(id)
        .ok()
        .and_then(|v| st.pipes.get(&v))
        .is_some_and(|p| p.session_id == call.session_id)
}

/// CREATE on IPC$: opens the srvsvc pipe.
pub fn create(st: &mut ConnState, call: &mut Call, req: &CreateRequest) -> Result<Reply, u32> {
    let name = req.name.trim_start_matches('\\');
    let name = name
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("PIPE\\"))
        .map_or(name, |_| &name[5..]);
    if !name.eq_ignore_ascii_case("srvsvc") {
        return Err(if name.is_empty() {
            STATUS_ACCESS_DENIED
        } else {
            STATUS_OBJECT_NAME_NOT_FOUND
        });
    }
    let vid = st.new_file_id();
    st.pipes.insert(
        vid,
        Pipe {
            session_id: call.session_id,
            tree_id: call.tree_id,
            assoc_group_id: 0x5300_0000 | (vid as u32 & 0xFFFF),
            max_xmit_frag: usize::from(FRAG_BYTES_MAX),
            ..Pipe::default()
        },
    );
    let file_id = FileId {
        persistent: vid,
        volatile: vid,
    };
    call.last_file_id = Some(file_id);
    let mut body = Vec::new();
    CreateResponse {
        oplock_level: dittofs_smb_wire::create::OPLOCK_LEVEL_NONE,
        flags: 0,
        create_action: FILE_OPENED,
        times: FileTimes {
            allocation_size: 4096,
            file_attributes: attr::NORMAL,
            ..FileTimes::default()
        },
        file_id,
        contexts: Vec::new(),
    }
    .encode(&mut body);
    ok(body)
}

/// CLOSE of a pipe: `None` when `id` is not a pipe.
pub fn close(st: &mut ConnState, call: &Call, id: FileId) -> Option<Result<Reply, u32>> {
    let vid = call.file_id(id).ok()?;
    if !is_pipe(st, call, id) {
        return None;
    }
    st.pipes.remove(&vid);
    let mut body = Vec::new();
    dittofs_smb_wire::create::CloseResponse {
        flags: 0,
        times: FileTimes::default(),
    }
    .encode(&mut body);
    Some(ok(body))
}

/// Drops the pipes of a tree (TREE_DISCONNECT) or a session (`tree_id: None`).
pub fn drop_pipes(st: &mut ConnState, session_id: u64, tree_id: Option<u32>) {
    st.pipes
        .retain(|_, p| !(p.session_id == session_id && tree_id.is_none_or(|t| t == p.tree_id)));
}

/// WRITE to a pipe: `None` when the file id is not a pipe.
pub async fn write(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    req: &WriteRequest<'_>,
) -> Option<Result<Reply, u32>> {
    if !is_pipe(st, call, req.file_id) {
        return None;
    }
    let r = feed(ctx, st, call, req.file_id, req.data).await.map(|()| {
        let mut body = Vec::new();
        WriteResponse {
            count: dittofs_smb_wire::buf::len32(req.data.len()),
            remaining: 0,
        }
        .encode(&mut body);
        (STATUS_SUCCESS, body)
    });
    Some(r)
}

/// READ from a pipe: `None` when the file id is not a pipe.
pub fn read(st: &mut ConnState, call: &Call, req: &ReadRequest) -> Option<Result<Reply, u32>> {
    let pipe = pipe_mut(st, call, req.file_id)?;
    let Some((data, more)) = pipe.take(req.length as usize) else {
        return Some(Err(STATUS_PIPE_EMPTY));
    };
    let mut body = Vec::with_capacity(16 + data.len());
    ReadResponse {
        data_remaining: 0,
        data: &data,
    }
    .encode(&mut body);
    Some(Ok((status_of(more), body)))
}

fn status_of(more: bool) -> u32 {
    if more {
        STATUS_BUFFER_OVERFLOW
    } else {
        STATUS_SUCCESS
    }
}

/// FSCTL_PIPE_TRANSCEIVE: write the input, return the first reply PDU.
pub async fn transceive(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    if !is_pipe(st, call, req.file_id) {
        return Err(if is_ipc(st, call) {
            STATUS_FILE_CLOSED
        } else {
            STATUS_INVALID_DEVICE_REQUEST
        });
    }
    feed(ctx, st, call, req.file_id, req.input).await?;
    let pipe = pipe_mut(st, call, req.file_id).ok_or(STATUS_FILE_CLOSED)?;
    let (data, more) = pipe
        .take(req.max_output_response as usize)
        .ok_or(STATUS_PIPE_EMPTY)?;
    let mut body = Vec::new();
    IoctlResponse {
        ctl_code: req.ctl_code,
        file_id: req.file_id,
        output: &data,
        flags: 0,
    }
    .encode(&mut body);
    Ok((status_of(more), body))
}

/// Runs the PDUs in `data` (plus what an earlier write left incomplete).
async fn feed(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    id: FileId,
    data: &[u8],
) -> Result<(), u32> {
    let cred = super::create::session_cred(st, call)?;
    let pipe = pipe_mut(st, call, id).ok_or(STATUS_FILE_CLOSED)?;
    if pipe.partial.len() + data.len() > rpc::FRAG_LEN_MAX * 2 {
        pipe.partial.clear();
        return Err(STATUS_INVALID_PARAMETER);
    }
    let mut buf = std::mem::take(&mut pipe.partial);
    buf.extend_from_slice(data);
    let (pdus, used) = match rpc::split_pdus(&buf) {
        Ok(x) => x,
        Err(e) => {
            log::debug!("srvsvc pipe: not a DCE/RPC PDU: {e}");
            pipe.pending = None;
            return Err(STATUS_INVALID_PARAMETER);
        }
    };
    let mut calls = Vec::new();
    for pdu in &pdus {
        if let Some(c) = handle_pdu(pipe, pdu) {
            calls.push(c);
        }
    }
    pipe.partial = buf[used..].to_vec();
    for (call_id, context_id, opnum, stub) in calls {
        let reply = execute(ctx, &cred, opnum, &stub).await;
        let pipe = pipe_mut(st, call, id).ok_or(STATUS_FILE_CLOSED)?;
        let mut out = Vec::new();
        match reply {
            Ok(stub) => {
                rpc::encode_response(call_id, context_id, &stub, pipe.max_xmit_frag, &mut out)
            }
            Err(status) => rpc::encode_fault(call_id, context_id, status, &mut out),
        }
        push_pdus(pipe, &out);
    }
    let pipe = pipe_mut(st, call, id).ok_or(STATUS_FILE_CLOSED)?;
    if pipe.queued() > QUEUED_BYTES_MAX {
        pipe.out.clear();
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    Ok(())
}

/// Queues each PDU of `bytes` as its own message.
fn push_pdus(pipe: &mut Pipe, bytes: &[u8]) {
    if let Ok((pdus, _)) = rpc::split_pdus(bytes) {
        pipe.out.extend(pdus.into_iter().map(<[u8]>::to_vec));
    }
}

/// One PDU: binds are answered at once; a complete REQUEST is returned to run.
fn handle_pdu(pipe: &mut Pipe, pdu: &[u8]) -> Option<(u32, u16, u16, Vec<u8>)> {
    let h = PduHeader::decode(pdu).ok()?;
    let body = h.body(pdu).ok()?;
    let mut out = Vec::new();
    match h.ptype {
        rpc::PTYPE_BIND | rpc::PTYPE_ALTER_CONTEXT => {
            let alter = h.ptype == rpc::PTYPE_ALTER_CONTEXT;
            match rpc::Bind::decode(body) {
                Ok(b) => bind(pipe, &b, alter, h.call_id, &mut out),
                Err(_) => rpc::encode_bind_nak(h.call_id, rpc::REASON_NOT_SPECIFIED, &mut out),
            }
        }
        rpc::PTYPE_REQUEST => {
            let fault = |status, out: &mut Vec<u8>| rpc::encode_fault(h.call_id, 0, status, out);
            let Ok(req) = rpc::Request::decode(h.flags, body) else {
                fault(rpc::NCA_S_PROTO_ERROR, &mut out);
                push_pdus(pipe, &out);
                return None;
            };
            if !pipe.contexts.contains(&req.context_id) {
                fault(rpc::NCA_S_UNKNOWN_IF, &mut out);
                push_pdus(pipe, &out);
                return None;
            }
            if h.flags & rpc::PFC_FIRST_FRAG != 0 {
                pipe.pending = Some((h.call_id, req.context_id, req.opnum, Vec::new()));
            }
            let ok = match &mut pipe.pending {
                Some((cid, _, _, stub)) if *cid == h.call_id => {
                    stub.extend_from_slice(req.stub);
                    stub.len() <= STUB_BYTES_MAX
                }
                _ => false,
            };
            if !ok {
                pipe.pending = None;
                fault(rpc::NCA_S_PROTO_ERROR, &mut out);
                push_pdus(pipe, &out);
                return None;
            }
            if h.flags & rpc::PFC_LAST_FRAG != 0 {
                return pipe.pending.take();
            }
        }
        // AUTH3, CO_CANCEL, ORPHANED, SHUTDOWN and replies get no answer.
        _ => {}
    }
    push_pdus(pipe, &out);
    None
}

/// Answers a BIND/ALTER_CONTEXT: srvsvc v3.0 over NDR 2.0 is accepted, a
/// bind-time feature negotiation acknowledged (no features), all else rejected.
fn bind(pipe: &mut Pipe, b: &rpc::Bind, alter: bool, call_id: u32, out: &mut Vec<u8>) {
    let iface = srvsvc::interface();
    let mut results = Vec::with_capacity(b.contexts.len());
    for c in &b.contexts {
        let reject = |reason| rpc::ContextResult {
            result: rpc::RESULT_PROVIDER_REJECTION,
            reason,
            transfer_syntax: rpc::SyntaxId::NONE,
        };
        let r = if c.transfer_syntaxes.iter().any(rpc::is_bind_time_feature) {
            rpc::ContextResult {
                result: rpc::RESULT_NEGOTIATE_ACK,
                reason: 0,
                transfer_syntax: rpc::SyntaxId::NONE,
            }
        } else if c.abstract_syntax != iface {
            reject(rpc::REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED)
        } else if c.transfer_syntaxes.contains(&rpc::NDR20) {
            if !pipe.contexts.contains(&c.context_id) {
                pipe.contexts.push(c.context_id);
            }
            rpc::ContextResult {
                result: rpc::RESULT_ACCEPTANCE,
                reason: 0,
                transfer_syntax: rpc::NDR20,
            }
        } else {
            reject(rpc::REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED)
        };
        results.push(r);
    }
    let frag = b.max_recv_frag.clamp(1024, FRAG_BYTES_MAX);
    if !alter {
        pipe.max_xmit_frag = usize::from(frag);
        if b.assoc_group_id != 0 {
            pipe.assoc_group_id = b.assoc_group_id;
        }
    }
    rpc::BindAck {
        max_xmit_frag: frag,
        max_recv_frag: FRAG_BYTES_MAX,
        assoc_group_id: pipe.assoc_group_id,
        sec_addr: if alter {
            String::new()
        } else {
            SEC_ADDR.into()
        },
        results,
    }
    .encode(alter, call_id, out);
}

/// Runs one srvsvc call: the reply stub, or a fault status.
async fn execute(ctx: &SmbContext, cred: &Cred, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, u32> {
    match opnum {
        srvsvc::OPNUM_NETR_SHARE_ENUM => {
            let req = srvsvc::decode_share_enum(stub).map_err(|_| rpc::RPC_X_BAD_STUB_DATA)?;
            let shares = visible_shares(ctx, cred).await;
            Ok(srvsvc::encode_share_enum_response(
                req.level,
                &shares,
                req.resume_handle,
            ))
        }
        srvsvc::OPNUM_NETR_SHARE_GET_INFO => {
            let req = srvsvc::decode_share_get_info(stub).map_err(|_| rpc::RPC_X_BAD_STUB_DATA)?;
            let shares = visible_shares(ctx, cred).await;
            let found = shares
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(&req.share));
            Ok(srvsvc::encode_share_get_info_response(req.level, found))
        }
        srvsvc::OPNUM_NETR_SERVER_GET_INFO => {
            let req = srvsvc::decode_server_get_info(stub).map_err(|_| rpc::RPC_X_BAD_STUB_DATA)?;
            let info = srvsvc::ServerInfo {
                name: "DITTOFS".into(),
                comment: "DittoFS".into(),
                version_major: 6,
                version_minor: 1,
                server_type: srvsvc::SV_TYPE_DEFAULT,
            };
            Ok(srvsvc::encode_server_get_info_response(req.level, &info))
        }
        _ => Err(rpc::NCA_S_OP_RNG_ERROR),
    }
}

/// The disk shares `cred` may read, then IPC$.
pub async fn visible_shares(ctx: &SmbContext, cred: &Cred) -> Vec<ShareInfo> {
    let mut out = Vec::with_capacity(ctx.shares.len() + 1);
    for (i, s) in ctx.shares.iter().enumerate() {
        if share_permission(ctx, i, cred).await >= SharePermission::Read {
            out.push(ShareInfo {
                name: s.name.clone(),
                share_type: srvsvc::STYPE_DISKTREE,
                remark: String::new(),
                path: format!("C:\\{}", s.name.replace('/', "\\")),
            });
        }
    }
    out.push(ShareInfo {
        name: "IPC$".into(),
        share_type: srvsvc::STYPE_IPC | srvsvc::STYPE_SPECIAL,
        remark: "IPC Service (DittoFS)".into(),
        path: String::new(),
    });
    out
}

/// The session user's permission on share `idx` (the share default without
/// an identity store; `None` when the store fails, so nothing is disclosed).
async fn share_permission(ctx: &SmbContext, idx: usize, cred: &Cred) -> SharePermission {
    let Some(share) = ctx.shares.get(idx) else {
        return SharePermission::None;
    };
    let Some(cache) = &ctx.identity else {
        return share.default_permission;
    };
    cache
        .permission(cred.uid, &share.name, share.default_permission)
        .await
        .unwrap_or_else(|e| {
            log::warn!("share {}: resolving uid {}: {e}", share.name, cred.uid);
            SharePermission::None
        })
}

#[cfg(test)]
#[path = "ipc_tests.rs"]
mod tests;
