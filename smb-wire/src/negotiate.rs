//! NEGOTIATE request/response (MS-SMB2 2.2.3, 2.2.4) and the negotiate contexts of
//! SMB 3.1.1 (2.2.3.1): preauth integrity, encryption, signing, POSIX extensions.
//! Contexts start 8-byte aligned relative to the SMB2 header; offsets are checked.

use crate::buf::{expect_size, len16, len32, slice_after, Put, Reader};
use crate::error::{Result, WireError};
use crate::header::HEADER_LEN;

pub const DIALECT_202: u16 = 0x0202;
pub const DIALECT_210: u16 = 0x0210;
pub const DIALECT_300: u16 = 0x0300;
pub const DIALECT_302: u16 = 0x0302;
pub const DIALECT_311: u16 = 0x0311;
/// The "SMB 2.???" wildcard answered to an SMB1 negotiate.
pub const DIALECT_WILDCARD: u16 = 0x02FF;

pub const SECURITY_SIGNING_ENABLED: u16 = 0x0001;
pub const SECURITY_SIGNING_REQUIRED: u16 = 0x0002;

/// Global capabilities.
pub mod caps {
    pub const DFS: u32 = 0x01;
    pub const LEASING: u32 = 0x02;
    pub const LARGE_MTU: u32 = 0x04;
    pub const MULTI_CHANNEL: u32 = 0x08;
    pub const PERSISTENT_HANDLES: u32 = 0x10;
    pub const DIRECTORY_LEASING: u32 = 0x20;
    pub const ENCRYPTION: u32 = 0x40;
}

pub const CTX_PREAUTH_INTEGRITY: u16 = 0x0001;
pub const CTX_ENCRYPTION: u16 = 0x0002;
pub const CTX_COMPRESSION: u16 = 0x0003;
pub const CTX_NETNAME: u16 = 0x0005;
pub const CTX_TRANSPORT: u16 = 0x0006;
pub const CTX_SIGNING: u16 = 0x0008;
pub const CTX_POSIX: u16 = 0x0100;

pub const HASH_SHA512: u16 = 0x0001;
pub const CIPHER_AES128_CCM: u16 = 0x0001;
pub const CIPHER_AES128_GCM: u16 = 0x0002;
pub const CIPHER_AES256_CCM: u16 = 0x0003;
pub const CIPHER_AES256_GCM: u16 = 0x0004;
pub const SIGNING_HMAC_SHA256: u16 = 0x0000;
pub const SIGNING_AES_CMAC: u16 = 0x0001;
pub const SIGNING_AES_GMAC: u16 = 0x0002;

/// The SMB 3.1.1 POSIX extensions GUID (negotiate context data and create context name).
pub const POSIX_GUID: [u8; 16] = [
    0x93, 0xAD, 0x25, 0x50, 0x9C, 0xB4, 0x11, 0xE7, 0xB4, 0x23, 0x83, 0xDE, 0x96, 0x8B, 0xCD, 0x7C,
];

/// Bounds the number of dialects/contexts/algorithm ids a client may send.
const LIST_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiateContext {
    PreauthIntegrity {
        hash_algorithms: Vec<u16>,
        salt: Vec<u8>,
    },
    Encryption {
        ciphers: Vec<u16>,
    },
    Signing {
        algorithms: Vec<u16>,
    },
    /// POSIX extensions; the data is [`POSIX_GUID`].
    Posix,
    /// Any other context (compression, netname, transport, RDMA...), kept raw.
    Other {
        context_type: u16,
        data: Vec<u8>,
    },
}

fn u16_list(r: &mut Reader<'_>, n: usize, what: &'static str) -> Result<Vec<u16>> {
    if n == 0 || n > LIST_MAX {
        return Err(WireError::BadValue(what));
    }
    (0..n).map(|_| r.u16()).collect()
}

impl NegotiateContext {
    fn decode(ctype: u16, data: &[u8]) -> Result<NegotiateContext> {
        let mut r = Reader::new(data);
        Ok(match ctype {
            CTX_PREAUTH_INTEGRITY => {
                let n = usize::from(r.u16()?);
                let salt_len = usize::from(r.u16()?);
                let hash_algorithms = u16_list(&mut r, n, "preauth hash count")?;
                let salt = r.bytes(salt_len)?.to_vec();
                NegotiateContext::PreauthIntegrity {
                    hash_algorithms,
                    salt,
                }
            }
            CTX_ENCRYPTION => {
                let n = usize::from(r.u16()?);
                NegotiateContext::Encryption {
                    ciphers: u16_list(&mut r, n, "cipher count")?,
                }
            }
            CTX_SIGNING => {
                let n = usize::from(r.u16()?);
                NegotiateContext::Signing {
                    algorithms: u16_list(&mut r, n, "signing algorithm count")?,
                }
            }
            CTX_POSIX if data == POSIX_GUID => NegotiateContext::Posix,
            _ => NegotiateContext::Other {
                context_type: ctype,
                data: data.to_vec(),
            },
        })
    }

    fn context_type(&self) -> u16 {
        match self {
            NegotiateContext::PreauthIntegrity { .. } => CTX_PREAUTH_INTEGRITY,
            NegotiateContext::Encryption { .. } => CTX_ENCRYPTION,
            NegotiateContext::Signing { .. } => CTX_SIGNING,
            NegotiateContext::Posix => CTX_POSIX,
            NegotiateContext::Other { context_type, .. } => *context_type,
        }
    }

    fn encode_data(&self, d: &mut Vec<u8>) {
        match self {
            NegotiateContext::PreauthIntegrity {
                hash_algorithms,
                salt,
            } => {
                d.put_u16(len16(hash_algorithms.len()));
                d.put_u16(len16(salt.len()));
                hash_algorithms.iter().for_each(|&h| d.put_u16(h));
                d.put(salt);
            }
            NegotiateContext::Encryption { ciphers: l }
            | NegotiateContext::Signing { algorithms: l } => {
                d.put_u16(len16(l.len()));
                l.iter().for_each(|&h| d.put_u16(h));
            }
            NegotiateContext::Posix => d.put(&POSIX_GUID),
            NegotiateContext::Other { data, .. } => d.put(data),
        }
    }
}

/// Decodes `count` contexts starting at `offset` (relative to the header) in `msg`.
pub fn decode_contexts(
    msg: &[u8],
    offset: usize,
    count: usize,
    min: usize,
) -> Result<Vec<NegotiateContext>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > LIST_MAX || offset % 8 != 0 || offset < min {
        return Err(WireError::BadOffset {
            what: "negotiate contexts",
            offset,
        });
    }
    let mut out = Vec::with_capacity(count);
    let mut at = offset;
    for i in 0..count {
        if i > 0 {
            at = at.div_ceil(8) * 8;
        }
        let mut r = Reader::at(msg, at);
        let ctype = r.u16()?;
        let len = usize::from(r.u16()?);
        r.skip(4)?;
        let data = r.bytes(len)?;
        out.push(NegotiateContext::decode(ctype, data)?);
        at = r.pos();
    }
    Ok(out)
}

/// Appends contexts to a body whose message offset is `HEADER_LEN + body.len()`;
/// the body must already be 8-aligned relative to the header.
pub fn encode_contexts(body: &mut Vec<u8>, ctxs: &[NegotiateContext]) {
    for (i, c) in ctxs.iter().enumerate() {
        if i > 0 {
            body.align(8);
        }
        let mut d = Vec::new();
        c.encode_data(&mut d);
        body.put_u16(c.context_type());
        body.put_u16(len16(d.len()));
        body.put_u32(0);
        body.put(&d);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegotiateRequest {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: [u8; 16],
    /// ClientStartTime when 3.1.1 is not offered (raw 8 bytes otherwise).
    pub client_start_time: u64,
    pub dialects: Vec<u16>,
    pub contexts: Vec<NegotiateContext>,
}

impl NegotiateRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "NEGOTIATE request", 36)?;
        let n = usize::from(r.u16()?);
        let security_mode = r.u16()?;
        r.skip(2)?;
        let capabilities = r.u32()?;
        let client_guid = r.array()?;
        let raw = r.u64()?;
        let dialects = u16_list(&mut r, n, "dialect count")?;
        let mut req = NegotiateRequest {
            security_mode,
            capabilities,
            client_guid,
            client_start_time: raw,
            dialects,
            contexts: Vec::new(),
        };
        if req.dialects.contains(&DIALECT_311) {
            let offset = (raw & 0xFFFF_FFFF) as usize;
            let count = ((raw >> 32) & 0xFFFF) as usize;
            req.contexts = decode_contexts(msg, offset, count, r.pos())?;
            req.client_start_time = 0;
        }
        Ok(req)
    }

    /// Client-side encoder (tests, the perf harness's SMB client).
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(36);
        body.put_u16(len16(self.dialects.len()));
        body.put_u16(self.security_mode);
        body.put_u16(0);
        body.put_u32(self.capabilities);
        body.put(&self.client_guid);
        let ctx_field = body.len();
        body.put_u64(self.client_start_time);
        self.dialects.iter().for_each(|&d| body.put_u16(d));
        if self.dialects.contains(&DIALECT_311) && !self.contexts.is_empty() {
            body.align(8);
            let off = HEADER_LEN + body.len();
            body.set_u32(ctx_field, len32(off));
            body.set_u16(ctx_field + 4, len16(self.contexts.len()));
            encode_contexts(body, &self.contexts);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegotiateResponse {
    pub security_mode: u16,
    pub dialect: u16,
    pub server_guid: [u8; 16],
    pub capabilities: u32,
    pub max_transact_size: u32,
    pub max_read_size: u32,
    pub max_write_size: u32,
    /// FILETIME.
    pub system_time: u64,
    pub server_start_time: u64,
    pub security_buffer: Vec<u8>,
    /// Only sent for 3.1.1.
    pub contexts: Vec<NegotiateContext>,
}

impl NegotiateResponse {
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(65);
        body.put_u16(self.security_mode);
        body.put_u16(self.dialect);
        let n_ctx = if self.dialect == DIALECT_311 {
            self.contexts.len()
        } else {
            0
        };
        body.put_u16(len16(n_ctx));
        body.put(&self.server_guid);
        body.put_u32(self.capabilities);
        body.put_u32(self.max_transact_size);
        body.put_u32(self.max_read_size);
        body.put_u32(self.max_write_size);
        body.put_u64(self.system_time);
        body.put_u64(self.server_start_time);
        body.put_u16(len16(HEADER_LEN + 64));
        body.put_u16(len16(self.security_buffer.len()));
        let ctx_field = body.len();
        body.put_u32(0);
        body.put(&self.security_buffer);
        if n_ctx > 0 {
            body.align(8);
            body.set_u32(ctx_field, len32(HEADER_LEN + body.len()));
            encode_contexts(body, &self.contexts);
        } else if self.security_buffer.is_empty() {
            body.put_u8(0);
        }
    }

    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "NEGOTIATE response", 65)?;
        let security_mode = r.u16()?;
        let dialect = r.u16()?;
        let n_ctx = usize::from(r.u16()?);
        let server_guid = r.array()?;
        let capabilities = r.u32()?;
        let max_transact_size = r.u32()?;
        let max_read_size = r.u32()?;
        let max_write_size = r.u32()?;
        let system_time = r.u64()?;
        let server_start_time = r.u64()?;
        let sb_off = usize::from(r.u16()?);
        let sb_len = usize::from(r.u16()?);
        let ctx_off = r.u32()? as usize;
        let fixed_end = r.pos();
        let security_buffer =
            slice_after(msg, "security buffer", fixed_end, sb_off, sb_len)?.to_vec();
        let contexts = if dialect == DIALECT_311 {
            decode_contexts(msg, ctx_off, n_ctx, fixed_end)?
        } else {
            Vec::new()
        };
        Ok(NegotiateResponse {
            security_mode,
            dialect,
            server_guid,
            capabilities,
            max_transact_size,
            max_read_size,
            max_write_size,
            system_time,
            server_start_time,
            security_buffer,
            contexts,
        })
    }
}

/// The FSCTL_VALIDATE_NEGOTIATE_INFO request (MS-SMB2 2.2.31.4), from an IOCTL input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidateNegotiateInfo {
    pub capabilities: u32,
    pub guid: [u8; 16],
    pub security_mode: u16,
    pub dialects: Vec<u16>,
}

impl ValidateNegotiateInfo {
    pub fn decode(input: &[u8]) -> Result<Self> {
        let mut r = Reader::new(input);
        let capabilities = r.u32()?;
        let guid = r.array()?;
        let security_mode = r.u16()?;
        let n = usize::from(r.u16()?);
        let dialects = u16_list(&mut r, n, "validate negotiate dialect count")?;
        Ok(ValidateNegotiateInfo {
            capabilities,
            guid,
            security_mode,
            dialects,
        })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.capabilities);
        out.put(&self.guid);
        out.put_u16(self.security_mode);
        out.put_u16(len16(self.dialects.len()));
        self.dialects.iter().for_each(|&d| out.put_u16(d));
    }
    /// The response: Capabilities, Guid, SecurityMode, Dialect (24 bytes).
    pub fn encode_response(
        capabilities: u32,
        guid: &[u8; 16],
        security_mode: u16,
        dialect: u16,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.put_u32(capabilities);
        out.put(guid);
        out.put_u16(security_mode);
        out.put_u16(dialect);
        out
    }
}
