//! A minimal portmapper (RFC 1833, version 2) on the NFS port.
//!
//! Clients that ask the portmapper where NFS and MOUNT live are told "here":
//! both programs share this server's one port. Registration (SET/UNSET) is
//! refused; CALLIT is not offered.

use std::net::SocketAddr;

use crate::rpc::message::encode_accepted;
use crate::rpc::xdr::{XdrError, XdrReader, XdrWriter};
use crate::rpc::{AcceptStat, CallHeader};

use super::{NfsContext, MOUNT_PROGRAM, MOUNT_VERSION, NFS_PROGRAM, NFS_VERSION};

/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u32 = 17;
/// Most mappings decoded from a DUMP reply (client side).
const LIST_LEN_MAX: usize = 65536;

/// `mapping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub prog: u32,
    pub vers: u32,
    pub prot: u32,
    pub port: u32,
}

impl Mapping {
    pub fn encode(&self, w: &mut XdrWriter) {
        w.write_u32(self.prog);
        w.write_u32(self.vers);
        w.write_u32(self.prot);
        w.write_u32(self.port);
    }

    pub fn decode(r: &mut XdrReader) -> Result<Mapping, XdrError> {
        Ok(Mapping {
            prog: r.read_u32()?,
            vers: r.read_u32()?,
            prot: r.read_u32()?,
            port: r.read_u32()?,
        })
    }
}

/// Portmap procedure arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortmapArgs {
    Null,
    Set(Mapping),
    Unset(Mapping),
    Getport(Mapping),
    Dump,
}

impl PortmapArgs {
    /// `Ok(None)` for an unknown (or unoffered) procedure.
    pub fn decode(proc_: u32, r: &mut XdrReader) -> Result<Option<PortmapArgs>, XdrError> {
        Ok(Some(match proc_ {
            0 => PortmapArgs::Null,
            1 => PortmapArgs::Set(Mapping::decode(r)?),
            2 => PortmapArgs::Unset(Mapping::decode(r)?),
            3 => PortmapArgs::Getport(Mapping::decode(r)?),
            4 => PortmapArgs::Dump,
            _ => return Ok(None),
        }))
    }

    pub fn proc_(&self) -> u32 {
        match self {
            PortmapArgs::Null => 0,
            PortmapArgs::Set(_) => 1,
            PortmapArgs::Unset(_) => 2,
            PortmapArgs::Getport(_) => 3,
            PortmapArgs::Dump => 4,
        }
    }

    pub fn encode(&self, w: &mut XdrWriter) {
        match self {
            PortmapArgs::Set(m) | PortmapArgs::Unset(m) | PortmapArgs::Getport(m) => m.encode(w),
            PortmapArgs::Null | PortmapArgs::Dump => {}
        }
    }
}

/// The mappings this server offers.
pub fn mappings(port: u16) -> [Mapping; 2] {
    let port = u32::from(port);
    [
        Mapping {
            prog: NFS_PROGRAM,
            vers: NFS_VERSION,
            prot: IPPROTO_TCP,
            port,
        },
        Mapping {
            prog: MOUNT_PROGRAM,
            vers: MOUNT_VERSION,
            prot: IPPROTO_TCP,
            port,
        },
    ]
}

/// GETPORT: our port for NFS v3 or MOUNT v3 over TCP, 0 for anything else.
pub fn getport(port: u16, m: &Mapping) -> u32 {
    mappings(port)
        .iter()
        .find(|x| x.prog == m.prog && x.vers == m.vers && x.prot == m.prot)
        .map_or(0, |x| x.port)
}

pub fn encode_dump(w: &mut XdrWriter, maps: &[Mapping]) {
    for m in maps {
        w.write_bool(true);
        m.encode(w);
    }
    w.write_bool(false);
}

pub fn decode_dump(r: &mut XdrReader) -> Result<Vec<Mapping>, XdrError> {
    let mut out = Vec::new();
    while r.read_bool()? {
        if out.len() >= LIST_LEN_MAX {
            return Err(XdrError::TooLong {
                len: out.len(),
                max: LIST_LEN_MAX,
            });
        }
        out.push(Mapping::decode(r)?);
    }
    Ok(out)
}

/// Answers one portmap v2 call; `r` is positioned at the procedure arguments.
pub(crate) fn call(
    ctx: &NfsContext,
    peer: SocketAddr,
    hdr: &CallHeader,
    mut r: XdrReader,
    w: &mut XdrWriter,
) {
    let xid = hdr.xid;
    let args = match PortmapArgs::decode(hdr.proc_, &mut r) {
        Ok(Some(a)) => a,
        Ok(None) => {
            encode_accepted(w, xid, AcceptStat::ProcUnavail);
            return;
        }
        Err(e) => {
            log::warn!(
                "{peer}: portmap xid {xid:#x} proc {}: garbage args: {e}",
                hdr.proc_
            );
            encode_accepted(w, xid, AcceptStat::GarbageArgs);
            return;
        }
    };
    log::debug!("{peer}: portmap xid {xid:#x} {args:?}");
    encode_accepted(w, xid, AcceptStat::Success);
    match args {
        PortmapArgs::Null => {}
        PortmapArgs::Set(_) | PortmapArgs::Unset(_) => w.write_bool(false),
        PortmapArgs::Getport(m) => w.write_u32(getport(ctx.port, &m)),
        PortmapArgs::Dump => encode_dump(w, &mappings(ctx.port)),
    }
}
