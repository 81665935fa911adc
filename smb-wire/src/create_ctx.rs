//! CREATE contexts (MS-SMB2 2.2.13.2 / 2.2.14.2): a chain of
//! {Next, NameOffset, NameLength, Reserved, DataOffset, DataLength} records, each
//! 8-byte aligned, name and data offsets relative to the record. Typed forms for the
//! contexts the server handles; anything else is kept raw.

use crate::buf::{len16, len32, slice_at, Put, Reader};
use crate::error::{Result, WireError};
use crate::negotiate::POSIX_GUID;

pub const MXAC: &[u8] = b"MxAc";
pub const QFID: &[u8] = b"QFid";
pub const RQLS: &[u8] = b"RqLs";
pub const DHNQ: &[u8] = b"DHnQ";
pub const DHNC: &[u8] = b"DHnC";
pub const DH2Q: &[u8] = b"DH2Q";
pub const DH2C: &[u8] = b"DH2C";
pub const TWRP: &[u8] = b"TWrp";
pub const ALSI: &[u8] = b"AlSi";
pub const EXTA: &[u8] = b"ExtA";
pub const SECD: &[u8] = b"SecD";

const CTX_MAX: usize = 32;

/// A lease request/response body (v1: 32 bytes, v2: 52 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lease {
    pub key: [u8; 16],
    pub state: u32,
    pub flags: u32,
    pub duration: u64,
    /// v2 only.
    pub parent_key: Option<[u8; 16]>,
    pub epoch: u16,
}

pub const LEASE_READ: u32 = 0x01;
pub const LEASE_HANDLE: u32 = 0x02;
pub const LEASE_WRITE: u32 = 0x04;
pub const LEASE_FLAG_BREAK_IN_PROGRESS: u32 = 0x02;
pub const LEASE_FLAG_PARENT_LEASE_KEY_SET: u32 = 0x04;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateContext {
    /// Request: optional timestamp. Response: QueryStatus + MaximalAccess.
    MaximalAccessRequest {
        timestamp: Option<u64>,
    },
    MaximalAccessResponse {
        query_status: u32,
        maximal_access: u32,
    },
    QueryOnDiskIdRequest,
    QueryOnDiskIdResponse {
        disk_file_id: u64,
        volume_id: u64,
    },
    Lease(Lease),
    DurableRequest,
    DurableResponse,
    DurableReconnect {
        file_id: [u8; 16],
    },
    DurableV2Request {
        timeout: u32,
        flags: u32,
        create_guid: [u8; 16],
    },
    DurableV2Response {
        timeout: u32,
        flags: u32,
    },
    DurableV2Reconnect {
        file_id: [u8; 16],
        create_guid: [u8; 16],
        flags: u32,
    },
    TimewarpToken {
        timestamp: u64,
    },
    AllocationSize(u64),
    /// SMB 3.1.1 POSIX create context request: the mode for a new file.
    PosixRequest {
        mode: u32,
    },
    /// POSIX response: links, reparse tag, mode, owner SID, group SID (SIDs raw).
    PosixResponse {
        nlinks: u32,
        reparse_tag: u32,
        mode: u32,
        owner_sid: Vec<u8>,
        group_sid: Vec<u8>,
    },
    Other {
        name: Vec<u8>,
        data: Vec<u8>,
    },
}

impl CreateContext {
    fn decode_one(name: &[u8], data: &[u8], response: bool) -> Result<CreateContext> {
        let mut r = Reader::new(data);
        let bad = |w| Err(WireError::BadValue(w));
        Ok(match name {
            MXAC if response => CreateContext::MaximalAccessResponse {
                query_status: r.u32()?,
                maximal_access: r.u32()?,
            },
            MXAC => CreateContext::MaximalAccessRequest {
                timestamp: if data.is_empty() {
                    None
                } else {
                    Some(r.u64()?)
                },
            },
            QFID if response => CreateContext::QueryOnDiskIdResponse {
                disk_file_id: r.u64()?,
                volume_id: r.u64()?,
            },
            QFID => CreateContext::QueryOnDiskIdRequest,
            RQLS => {
                let key = r.array()?;
                let state = r.u32()?;
                let flags = r.u32()?;
                let duration = r.u64()?;
                let (parent_key, epoch) = match data.len() {
                    32 => (None, 0),
                    52 => (Some(r.array()?), r.u16()?),
                    _ => return bad("lease context length"),
                };
                CreateContext::Lease(Lease {
                    key,
                    state,
                    flags,
                    duration,
                    parent_key,
                    epoch,
                })
            }
            DHNQ if response => CreateContext::DurableResponse,
            DHNQ => CreateContext::DurableRequest,
            DHNC => CreateContext::DurableReconnect {
                file_id: r.array()?,
            },
            DH2Q if response => CreateContext::DurableV2Response {
                timeout: r.u32()?,
                flags: r.u32()?,
            },
            DH2Q => {
                let timeout = r.u32()?;
                let flags = r.u32()?;
                r.skip(8)?;
                CreateContext::DurableV2Request {
                    timeout,
                    flags,
                    create_guid: r.array()?,
                }
            }
            DH2C => CreateContext::DurableV2Reconnect {
                file_id: r.array()?,
                create_guid: r.array()?,
                flags: r.u32()?,
            },
            TWRP => CreateContext::TimewarpToken {
                timestamp: r.u64()?,
            },
            ALSI => CreateContext::AllocationSize(r.u64()?),
            n if n == POSIX_GUID && response => {
                let nlinks = r.u32()?;
                let reparse_tag = r.u32()?;
                let mode = r.u32()?;
                let owner_sid = take_sid(&mut r)?;
                let group_sid = take_sid(&mut r)?;
                CreateContext::PosixResponse {
                    nlinks,
                    reparse_tag,
                    mode,
                    owner_sid,
                    group_sid,
                }
            }
            n if n == POSIX_GUID => CreateContext::PosixRequest { mode: r.u32()? },
            _ => CreateContext::Other {
                name: name.to_vec(),
                data: data.to_vec(),
            },
        })
    }

    fn name(&self) -> &[u8] {
        use CreateContext::*;
        match self {
            MaximalAccessRequest { .. } | MaximalAccessResponse { .. } => MXAC,
            QueryOnDiskIdRequest | QueryOnDiskIdResponse { .. } => QFID,
            Lease(_) => RQLS,
            DurableRequest | DurableResponse => DHNQ,
            DurableReconnect { .. } => DHNC,
            DurableV2Request { .. } | DurableV2Response { .. } => DH2Q,
            DurableV2Reconnect { .. } => DH2C,
            TimewarpToken { .. } => TWRP,
            AllocationSize(_) => ALSI,
            PosixRequest { .. } | PosixResponse { .. } => &POSIX_GUID,
            Other { name, .. } => name,
        }
    }

    fn encode_data(&self, d: &mut Vec<u8>) {
        use CreateContext::*;
        match self {
            MaximalAccessRequest { timestamp } => {
                if let Some(t) = timestamp {
                    d.put_u64(*t)
                }
            }
            MaximalAccessResponse {
                query_status,
                maximal_access,
            } => {
                d.put_u32(*query_status);
                d.put_u32(*maximal_access);
            }
            QueryOnDiskIdRequest => {}
            QueryOnDiskIdResponse {
                disk_file_id,
                volume_id,
            } => {
                d.put_u64(*disk_file_id);
                d.put_u64(*volume_id);
                d.zeros(16);
            }
            Lease(l) => {
                d.put(&l.key);
                d.put_u32(l.state);
                d.put_u32(l.flags);
                d.put_u64(l.duration);
                if let Some(p) = l.parent_key {
                    d.put(&p);
                    d.put_u16(l.epoch);
                    d.put_u16(0);
                }
            }
            DurableRequest => d.zeros(16),
            DurableResponse => d.zeros(8),
            DurableReconnect { file_id } => d.put(file_id),
            DurableV2Request {
                timeout,
                flags,
                create_guid,
            } => {
                d.put_u32(*timeout);
                d.put_u32(*flags);
                d.zeros(8);
                d.put(create_guid);
            }
            DurableV2Response { timeout, flags } => {
                d.put_u32(*timeout);
                d.put_u32(*flags);
            }
            DurableV2Reconnect {
                file_id,
                create_guid,
                flags,
            } => {
                d.put(file_id);
                d.put(create_guid);
                d.put_u32(*flags);
            }
            TimewarpToken { timestamp } => d.put_u64(*timestamp),
            AllocationSize(s) => d.put_u64(*s),
            PosixRequest { mode } => d.put_u32(*mode),
            PosixResponse {
                nlinks,
                reparse_tag,
                mode,
                owner_sid,
                group_sid,
            } => {
                d.put_u32(*nlinks);
                d.put_u32(*reparse_tag);
                d.put_u32(*mode);
                d.put(owner_sid);
                d.put(group_sid);
            }
            Other { data, .. } => d.put(data),
        }
    }
}

/// A binary SID: 8 + 4 * SubAuthorityCount bytes.
fn take_sid(r: &mut Reader<'_>) -> Result<Vec<u8>> {
    let start = r.clone();
    r.skip(1)?;
    let n = usize::from(r.u8()?);
    let mut s = start;
    Ok(s.bytes(8 + 4 * n)?.to_vec()).inspect(|_| {
        *r = s;
    })
}

/// Decodes the chain in `buf` (already cut from the message by the caller).
pub fn decode_create_contexts(buf: &[u8], response: bool) -> Result<Vec<CreateContext>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        if out.len() >= CTX_MAX {
            return Err(WireError::BadValue("too many create contexts"));
        }
        let mut r = Reader::at(buf, at);
        let next = r.u32()? as usize;
        let name_off = usize::from(r.u16()?);
        let name_len = usize::from(r.u16()?);
        r.skip(2)?;
        let data_off = usize::from(r.u16()?);
        let data_len = r.u32()? as usize;
        let rec_end = if next == 0 {
            buf.len()
        } else {
            at.saturating_add(next).min(buf.len())
        };
        let rec = buf.get(at..rec_end).unwrap_or(&[]);
        if name_off < 16 && name_len != 0 || data_off < 16 && data_len != 0 {
            return Err(WireError::BadOffset {
                what: "create context",
                offset: name_off.min(data_off),
            });
        }
        let name = slice_at(rec, "create context name", name_off, name_len)?;
        let data = slice_at(rec, "create context data", data_off, data_len)?;
        out.push(CreateContext::decode_one(name, data, response)?);
        if next == 0 {
            break;
        }
        if next % 8 != 0 || next < 16 || at + next > buf.len() {
            return Err(WireError::BadValue("create context Next"));
        }
        at += next;
    }
    Ok(out)
}

/// Encodes a chain (records 8-aligned, name at 16, data at 24 or after the name).
pub fn encode_create_contexts(ctxs: &[CreateContext]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev: Option<usize> = None;
    for c in ctxs {
        out.align(8);
        let start = out.len();
        if let Some(p) = prev {
            out.set_u32(p, len32(start - p));
        }
        prev = Some(start);
        let name = c.name();
        let mut data = Vec::new();
        c.encode_data(&mut data);
        out.put_u32(0);
        out.put_u16(16);
        out.put_u16(len16(name.len()));
        out.put_u16(0);
        let data_off_at = out.len();
        out.put_u16(0);
        out.put_u32(len32(data.len()));
        out.put(name);
        if !data.is_empty() {
            out.align(8);
            out.set_u16(data_off_at, len16(out.len() - start));
            out.put(&data);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_contexts_round_trip() {
        let fid: [u8; 16] = core::array::from_fn(|i| i as u8);
        let guid: [u8; 16] = core::array::from_fn(|i| 0xA0 + i as u8);
        let requests = vec![
            CreateContext::DurableRequest,
            CreateContext::DurableReconnect { file_id: fid },
            CreateContext::DurableV2Request {
                timeout: 30_000,
                flags: 2,
                create_guid: guid,
            },
            CreateContext::DurableV2Reconnect {
                file_id: fid,
                create_guid: guid,
                flags: 0,
            },
        ];
        let buf = encode_create_contexts(&requests);
        assert_eq!(decode_create_contexts(&buf, false).unwrap(), requests);
        let responses = vec![
            CreateContext::DurableResponse,
            CreateContext::DurableV2Response {
                timeout: 60_000,
                flags: 0,
            },
        ];
        let buf = encode_create_contexts(&responses);
        assert_eq!(decode_create_contexts(&buf, true).unwrap(), responses);
        // DH2Q request data is 32 bytes: a short one is refused.
        let mut short = encode_create_contexts(&requests[2..3]);
        short.truncate(short.len() - 4);
        let len_at = 12;
        let l = u32::from_le_bytes(short[len_at..len_at + 4].try_into().unwrap());
        short[len_at..len_at + 4].copy_from_slice(&(l - 4).to_le_bytes());
        assert!(decode_create_contexts(&short, false).is_err());
    }
}
