//! DCE/RPC connection-oriented PDUs (C706 chapter 12, MS-RPCE 2.2.2) as carried
//! over an SMB named pipe: the common 16-byte header, BIND / ALTER_CONTEXT and
//! their acks, BIND_NAK, REQUEST, RESPONSE and FAULT.
//!
//! Why here: share enumeration (srvsvc) is the only RPC interface the server
//! answers, but clients speak full DCE/RPC to reach it, so the PDU layer is a
//! pure codec like every other wire structure: every length is checked against
//! the PDU, nothing panics on any input, and the server's pipe handler only
//! runs the (tiny) association state machine. Only little-endian, ASCII, IEEE
//! data representation and no authentication (auth_length 0 on replies;
//! verifiers sent by the client are skipped) are supported: srvsvc over an
//! authenticated SMB session needs none.

use crate::buf::{Put, Reader};
use crate::error::{Result, WireError};

/// Length of the common header.
pub const HEADER_LEN: usize = 16;
/// Largest PDU this codec accepts or produces (MS-RPCE: 5840 is the usual
/// fragment size; 64 KiB bounds what a hostile client can make us buffer).
pub const FRAG_LEN_MAX: usize = 65535;

pub const PTYPE_REQUEST: u8 = 0;
pub const PTYPE_RESPONSE: u8 = 2;
pub const PTYPE_FAULT: u8 = 3;
pub const PTYPE_BIND: u8 = 11;
pub const PTYPE_BIND_ACK: u8 = 12;
pub const PTYPE_BIND_NAK: u8 = 13;
pub const PTYPE_ALTER_CONTEXT: u8 = 14;
pub const PTYPE_ALTER_CONTEXT_RESP: u8 = 15;

pub const PFC_FIRST_FRAG: u8 = 0x01;
pub const PFC_LAST_FRAG: u8 = 0x02;
pub const PFC_OBJECT_UUID: u8 = 0x80;

/// Little-endian integers, ASCII characters, IEEE floats.
pub const DREP_LE: [u8; 4] = [0x10, 0, 0, 0];

/// Bind result: accepted.
pub const RESULT_ACCEPTANCE: u16 = 0;
/// Bind result: rejected by the provider (reason says why).
pub const RESULT_PROVIDER_REJECTION: u16 = 2;
/// Bind result: acknowledges a bind-time feature negotiation (MS-RPCE 3.3.1.5.3).
pub const RESULT_NEGOTIATE_ACK: u16 = 3;
pub const REASON_NOT_SPECIFIED: u16 = 0;
pub const REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED: u16 = 1;
pub const REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED: u16 = 2;
/// BIND_NAK reason: protocol version not supported.
pub const NAK_PROTOCOL_VERSION_NOT_SUPPORTED: u16 = 4;

/// Fault: the opnum is not one of the interface's.
pub const NCA_S_OP_RNG_ERROR: u32 = 0x1C01_0002;
/// Fault: the context id names no accepted presentation context.
pub const NCA_S_UNKNOWN_IF: u32 = 0x1C01_0003;
/// Fault: a protocol violation (PDU out of sequence, bad fragmenting).
pub const NCA_S_PROTO_ERROR: u32 = 0x1C01_000B;
/// Fault: the stub data could not be unmarshalled (RPC_X_BAD_STUB_DATA).
pub const RPC_X_BAD_STUB_DATA: u32 = 0x0000_06F7;

/// An interface or transfer syntax id: UUID (in its wire byte order) and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxId {
    pub uuid: [u8; 16],
    /// Major version in the low 16 bits, minor in the high 16 (wire order).
    pub version: u32,
}

impl SyntaxId {
    /// Builds the wire form of a textual UUID `a-b-c-d-e` (first three fields
    /// little-endian, the rest as written); `None` for a malformed string.
    pub fn parse(uuid: &str, major: u16, minor: u16) -> Option<SyntaxId> {
        let hex: String = uuid.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 {
            return None;
        }
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        Some(SyntaxId {
            uuid: b,
            version: u32::from(major) | (u32::from(minor) << 16),
        })
    }

    fn decode(r: &mut Reader<'_>) -> Result<SyntaxId> {
        Ok(SyntaxId {
            uuid: r.array()?,
            version: r.u32()?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.put(&self.uuid);
        out.put_u32(self.version);
    }

    /// A zeroed syntax (the transfer syntax of a rejected context).
    pub const NONE: SyntaxId = SyntaxId {
        uuid: [0; 16],
        version: 0,
    };
}

/// NDR 2.0 transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.0.
pub const NDR20: SyntaxId = SyntaxId {
    uuid: [
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ],
    version: 2,
};

/// Whether `s` is a bind-time feature negotiation pseudo syntax
/// (6cb71c2c-9812-4540-xxxx-000000000000 v1.0, MS-RPCE 2.2.2.14).
pub fn is_bind_time_feature(s: &SyntaxId) -> bool {
    const PREFIX: [u8; 8] = [0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45];
    s.uuid[..8] == PREFIX && s.uuid[10..] == [0; 6] && s.version == 1
}

/// The common header of every connection-oriented PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduHeader {
    pub ptype: u8,
    pub flags: u8,
    pub drep: [u8; 4],
    pub frag_len: u16,
    pub auth_len: u16,
    pub call_id: u32,
}

impl PduHeader {
    /// Decodes and checks the header (version 5.0, little-endian data, a
    /// fragment length that covers the header and the auth verifier).
    pub fn decode(b: &[u8]) -> Result<PduHeader> {
        let mut r = Reader::new(b);
        let (vers, minor) = (r.u8()?, r.u8()?);
        let ptype = r.u8()?;
        let flags = r.u8()?;
        let drep: [u8; 4] = r.array()?;
        let frag_len = r.u16()?;
        let auth_len = r.u16()?;
        let call_id = r.u32()?;
        if vers != 5 || minor > 1 {
            return Err(WireError::BadValue("dcerpc version"));
        }
        if drep[0] & 0xF0 != 0x10 || drep[0] & 0x0F != 0 {
            return Err(WireError::BadValue("dcerpc data representation"));
        }
        let auth_total = if auth_len == 0 {
            0
        } else {
            usize::from(auth_len) + 8
        };
        if usize::from(frag_len) < HEADER_LEN + auth_total {
            return Err(WireError::BadValue("dcerpc frag_length"));
        }
        Ok(PduHeader {
            ptype,
            flags,
            drep,
            frag_len,
            auth_len,
            call_id,
        })
    }

    /// The body of the PDU in `pdu` (after the header, before the auth verifier).
    pub fn body<'a>(&self, pdu: &'a [u8]) -> Result<&'a [u8]> {
        let frag = usize::from(self.frag_len);
        if pdu.len() < frag {
            return Err(WireError::Truncated {
                at: 0,
                need: frag,
                have: pdu.len(),
            });
        }
        let auth_total = if self.auth_len == 0 {
            0
        } else {
            usize::from(self.auth_len) + 8
        };
        pdu.get(HEADER_LEN..frag - auth_total)
            .ok_or(WireError::BadValue("dcerpc frag_length"))
    }
}

/// Starts a PDU of type `ptype` (frag_length patched by [`finish`]).
fn start(out: &mut Vec<u8>, ptype: u8, flags: u8, call_id: u32) -> usize {
    let at = out.len();
    out.put_u8(5);
    out.put_u8(0);
    out.put_u8(ptype);
    out.put_u8(flags);
    out.put(&DREP_LE);
    out.put_u16(0);
    out.put_u16(0);
    out.put_u32(call_id);
    at
}

fn finish(out: &mut Vec<u8>, at: usize) {
    let len = crate::buf::len16(out.len() - at);
    out.set_u16(at + 8, len);
}

/// One presentation context a BIND proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextElem {
    pub context_id: u16,
    pub abstract_syntax: SyntaxId,
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// BIND and ALTER_CONTEXT (same layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group_id: u32,
    pub contexts: Vec<ContextElem>,
}

impl Bind {
    /// Decodes the body of a BIND/ALTER_CONTEXT PDU.
    pub fn decode(body: &[u8]) -> Result<Bind> {
        let mut r = Reader::new(body);
        let max_xmit_frag = r.u16()?;
        let max_recv_frag = r.u16()?;
        let assoc_group_id = r.u32()?;
        let n = r.u8()?;
        r.skip(3)?;
        let mut contexts = Vec::with_capacity(usize::from(n).min(body.len() / 24));
        for _ in 0..n {
            let context_id = r.u16()?;
            let n_syn = r.u8()?;
            r.skip(1)?;
            let abstract_syntax = SyntaxId::decode(&mut r)?;
            let mut transfer_syntaxes =
                Vec::with_capacity(usize::from(n_syn).min(r.remaining() / 20));
            for _ in 0..n_syn {
                transfer_syntaxes.push(SyntaxId::decode(&mut r)?);
            }
            contexts.push(ContextElem {
                context_id,
                abstract_syntax,
                transfer_syntaxes,
            });
        }
        Ok(Bind {
            max_xmit_frag,
            max_recv_frag,
            assoc_group_id,
            contexts,
        })
    }

    /// Encodes a whole BIND (`alter`: ALTER_CONTEXT) PDU (client side; tests).
    pub fn encode(&self, alter: bool, call_id: u32, out: &mut Vec<u8>) {
        let ptype = if alter {
            PTYPE_ALTER_CONTEXT
        } else {
            PTYPE_BIND
        };
        let at = start(out, ptype, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id);
        out.put_u16(self.max_xmit_frag);
        out.put_u16(self.max_recv_frag);
        out.put_u32(self.assoc_group_id);
        out.put_u8(u8::try_from(self.contexts.len()).unwrap_or(u8::MAX));
        out.zeros(3);
        for c in self.contexts.iter().take(255) {
            out.put_u16(c.context_id);
            out.put_u8(u8::try_from(c.transfer_syntaxes.len()).unwrap_or(u8::MAX));
            out.put_u8(0);
            c.abstract_syntax.encode(out);
            for t in c.transfer_syntaxes.iter().take(255) {
                t.encode(out);
            }
        }
        finish(out, at);
    }
}

/// One entry of a BIND_ACK result list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextResult {
    pub result: u16,
    pub reason: u16,
    pub transfer_syntax: SyntaxId,
}

/// BIND_ACK and ALTER_CONTEXT_RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAck {
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group_id: u32,
    /// Secondary address, e.g. `\PIPE\srvsvc` (empty for ALTER_CONTEXT_RESP).
    pub sec_addr: String,
    pub results: Vec<ContextResult>,
}

impl BindAck {
    /// Encodes a whole PDU (`alter`: ALTER_CONTEXT_RESP).
    pub fn encode(&self, alter: bool, call_id: u32, out: &mut Vec<u8>) {
        let ptype = if alter {
            PTYPE_ALTER_CONTEXT_RESP
        } else {
            PTYPE_BIND_ACK
        };
        let at = start(out, ptype, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id);
        out.put_u16(self.max_xmit_frag);
        out.put_u16(self.max_recv_frag);
        out.put_u32(self.assoc_group_id);
        if self.sec_addr.is_empty() {
            out.put_u16(0);
        } else {
            let addr = &self.sec_addr.as_bytes()[..self.sec_addr.len().min(1024)];
            out.put_u16(crate::buf::len16(addr.len() + 1));
            out.put(addr);
            out.put_u8(0);
        }
        while (out.len() - at) % 4 != 0 {
            out.put_u8(0);
        }
        out.put_u8(u8::try_from(self.results.len()).unwrap_or(u8::MAX));
        out.zeros(3);
        for r in self.results.iter().take(255) {
            out.put_u16(r.result);
            out.put_u16(r.reason);
            r.transfer_syntax.encode(out);
        }
        finish(out, at);
    }

    /// Decodes the body of a BIND_ACK/ALTER_CONTEXT_RESP (client side; tests).
    pub fn decode(body: &[u8]) -> Result<BindAck> {
        let mut r = Reader::new(body);
        let max_xmit_frag = r.u16()?;
        let max_recv_frag = r.u16()?;
        let assoc_group_id = r.u32()?;
        let len = usize::from(r.u16()?);
        let addr = r.bytes(len)?;
        let sec_addr =
            String::from_utf8_lossy(addr.strip_suffix(&[0]).unwrap_or(addr)).into_owned();
        // Body offset + header length (16, a multiple of 4) keeps the alignment.
        while r.pos() % 4 != 0 {
            r.skip(1)?;
        }
        let n = r.u8()?;
        r.skip(3)?;
        let mut results = Vec::with_capacity(usize::from(n).min(r.remaining() / 24));
        for _ in 0..n {
            results.push(ContextResult {
                result: r.u16()?,
                reason: r.u16()?,
                transfer_syntax: SyntaxId::decode(&mut r)?,
            });
        }
        Ok(BindAck {
            max_xmit_frag,
            max_recv_frag,
            assoc_group_id,
            sec_addr,
            results,
        })
    }
}

/// Encodes a BIND_NAK PDU (only version 5.0 is supported).
pub fn encode_bind_nak(call_id: u32, reason: u16, out: &mut Vec<u8>) {
    let at = start(out, PTYPE_BIND_NAK, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id);
    out.put_u16(reason);
    out.put_u8(1);
    out.put_u8(5);
    out.put_u8(0);
    finish(out, at);
}

/// The body of a REQUEST PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub alloc_hint: u32,
    pub context_id: u16,
    pub opnum: u16,
    pub stub: &'a [u8],
}

impl<'a> Request<'a> {
    /// Decodes the body of a REQUEST whose header flags are `flags`.
    pub fn decode(flags: u8, body: &'a [u8]) -> Result<Request<'a>> {
        let mut r = Reader::new(body);
        let alloc_hint = r.u32()?;
        let context_id = r.u16()?;
        let opnum = r.u16()?;
        if flags & PFC_OBJECT_UUID != 0 {
            r.skip(16)?;
        }
        Ok(Request {
            alloc_hint,
            context_id,
            opnum,
            stub: r.rest(),
        })
    }

    /// Encodes a whole REQUEST PDU with `flags` (client side; tests).
    pub fn encode(&self, flags: u8, call_id: u32, out: &mut Vec<u8>) {
        let at = start(out, PTYPE_REQUEST, flags & !PFC_OBJECT_UUID, call_id);
        out.put_u32(self.alloc_hint);
        out.put_u16(self.context_id);
        out.put_u16(self.opnum);
        out.put(self.stub);
        finish(out, at);
    }
}

/// Fixed bytes of a RESPONSE PDU before the stub (header + alloc_hint,
/// context id, cancel count, reserved).
pub const RESPONSE_OVERHEAD: usize = HEADER_LEN + 8;

/// Encodes the RESPONSE fragments of `stub` for `call_id`, each at most
/// `max_frag` bytes long (at least one fragment; fragments carry a multiple of
/// 8 stub bytes except the last).
pub fn encode_response(
    call_id: u32,
    context_id: u16,
    stub: &[u8],
    max_frag: usize,
    out: &mut Vec<u8>,
) {
    let room = max_frag.clamp(RESPONSE_OVERHEAD + 8, FRAG_LEN_MAX) - RESPONSE_OVERHEAD;
    let room = room - room % 8;
    let mut sent = 0usize;
    loop {
        let chunk = (stub.len() - sent).min(room);
        let mut flags = 0;
        if sent == 0 {
            flags |= PFC_FIRST_FRAG;
        }
        if sent + chunk == stub.len() {
            flags |= PFC_LAST_FRAG;
        }
        let at = start(out, PTYPE_RESPONSE, flags, call_id);
        out.put_u32(crate::buf::len32(stub.len() - sent));
        out.put_u16(context_id);
        out.put_u8(0);
        out.put_u8(0);
        out.put(&stub[sent..sent + chunk]);
        finish(out, at);
        sent += chunk;
        if sent == stub.len() {
            break;
        }
    }
}

/// Encodes a FAULT PDU with `status`.
pub fn encode_fault(call_id: u32, context_id: u16, status: u32, out: &mut Vec<u8>) {
    let at = start(
        out,
        PTYPE_FAULT,
        PFC_FIRST_FRAG | PFC_LAST_FRAG | 0x20, // did not execute
        call_id,
    );
    out.put_u32(0);
    out.put_u16(context_id);
    out.put_u8(0);
    out.put_u8(0);
    out.put_u32(status);
    out.put_u32(0);
    finish(out, at);
}

/// A decoded RESPONSE or FAULT body (client side; tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    Response { context_id: u16, stub: &'a [u8] },
    Fault { status: u32 },
}

/// Decodes the body of a RESPONSE (`ptype` 2) or FAULT (3).
pub fn decode_reply(ptype: u8, body: &[u8]) -> Result<Reply<'_>> {
    let mut r = Reader::new(body);
    let _alloc_hint = r.u32()?;
    let context_id = r.u16()?;
    r.skip(2)?;
    match ptype {
        PTYPE_RESPONSE => Ok(Reply::Response {
            context_id,
            stub: r.rest(),
        }),
        PTYPE_FAULT => Ok(Reply::Fault { status: r.u32()? }),
        _ => Err(WireError::BadValue("dcerpc reply type")),
    }
}

/// Splits a byte stream into whole PDUs: `(pdus, consumed)`. A trailing
/// partial PDU is left for the next write; a header that cannot be a PDU is
/// an error.
pub fn split_pdus(buf: &[u8]) -> Result<(Vec<&[u8]>, usize)> {
    let mut pdus = Vec::new();
    let mut at = 0;
    while buf.len() - at >= HEADER_LEN {
        let h = PduHeader::decode(&buf[at..])?;
        let len = usize::from(h.frag_len);
        if buf.len() - at < len {
            break;
        }
        pdus.push(&buf[at..at + len]);
        at += len;
    }
    Ok((pdus, at))
}

#[cfg(test)]
#[path = "dcerpc_tests.rs"]
mod tests;
