//! The 64-byte SMB2 header (MS-SMB2 2.2.1), sync and async forms, and compound chains
//! (MS-SMB2 3.2.4.1.4 / 3.3.5.2.7): NextCommand is the offset of the next header from
//! the start of this one, 8-byte aligned, 0 on the last; SMB2_FLAGS_RELATED_OPERATIONS
//! says the request reuses the previous one's FileId/SessionId/TreeId.

use crate::buf::{Put, Reader};
use crate::error::{Result, WireError};

/// Size of the SMB2 header.
pub const HEADER_LEN: usize = 64;
/// ProtocolId of a plain SMB2 message.
pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];

/// SMB2 header flags.
pub mod flags {
    pub const SERVER_TO_REDIR: u32 = 0x0000_0001;
    pub const ASYNC_COMMAND: u32 = 0x0000_0002;
    pub const RELATED_OPERATIONS: u32 = 0x0000_0004;
    pub const SIGNED: u32 = 0x0000_0008;
    pub const PRIORITY_MASK: u32 = 0x0000_0070;
    pub const DFS_OPERATIONS: u32 = 0x1000_0000;
    pub const REPLAY_OPERATION: u32 = 0x2000_0000;
}

/// SMB2 command codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Command {
    Negotiate = 0,
    SessionSetup = 1,
    Logoff = 2,
    TreeConnect = 3,
    TreeDisconnect = 4,
    Create = 5,
    Close = 6,
    Flush = 7,
    Read = 8,
    Write = 9,
    Lock = 0xA,
    Ioctl = 0xB,
    Cancel = 0xC,
    Echo = 0xD,
    QueryDirectory = 0xE,
    ChangeNotify = 0xF,
    QueryInfo = 0x10,
    SetInfo = 0x11,
    OplockBreak = 0x12,
}

impl Command {
    pub fn from_u16(v: u16) -> Option<Command> {
        use Command::*;
        Some(match v {
            0 => Negotiate,
            1 => SessionSetup,
            2 => Logoff,
            3 => TreeConnect,
            4 => TreeDisconnect,
            5 => Create,
            6 => Close,
            7 => Flush,
            8 => Read,
            9 => Write,
            0xA => Lock,
            0xB => Ioctl,
            0xC => Cancel,
            0xD => Echo,
            0xE => QueryDirectory,
            0xF => ChangeNotify,
            0x10 => QueryInfo,
            0x11 => SetInfo,
            0x12 => OplockBreak,
            _ => return None,
        })
    }
}

/// A decoded SMB2 header. `command` stays raw so an unknown command can still be
/// answered with STATUS_INVALID_PARAMETER carrying the right MessageId.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub credit_charge: u16,
    /// Status in responses; ChannelSequence (low 16 bits) + reserved in 3.x requests.
    pub status: u32,
    pub command: u16,
    /// CreditRequest in requests, CreditResponse in responses.
    pub credits: u16,
    pub flags: u32,
    pub next_command: u32,
    pub message_id: u64,
    /// Set when `flags` has ASYNC_COMMAND.
    pub async_id: u64,
    /// Sync form only (with `process_id` as the reserved field before it).
    pub tree_id: u32,
    pub process_id: u32,
    pub session_id: u64,
    pub signature: [u8; 16],
}

impl Header {
    pub fn is_async(&self) -> bool {
        self.flags & flags::ASYNC_COMMAND != 0
    }
    pub fn is_response(&self) -> bool {
        self.flags & flags::SERVER_TO_REDIR != 0
    }
    pub fn is_related(&self) -> bool {
        self.flags & flags::RELATED_OPERATIONS != 0
    }
    pub fn is_signed(&self) -> bool {
        self.flags & flags::SIGNED != 0
    }
    pub fn cmd(&self) -> Option<Command> {
        Command::from_u16(self.command)
    }

    /// Decodes the header at the start of `msg`.
    pub fn decode(msg: &[u8]) -> Result<Header> {
        let mut r = Reader::new(msg);
        let id: [u8; 4] = r.array()?;
        if id != PROTOCOL_ID {
            return Err(WireError::BadProtocolId(id));
        }
        crate::buf::expect_size(&mut r, "SMB2 header", 64)?;
        let credit_charge = r.u16()?;
        let status = r.u32()?;
        let command = r.u16()?;
        let credits = r.u16()?;
        let flags = r.u32()?;
        let next_command = r.u32()?;
        let message_id = r.u64()?;
        let (async_id, process_id, tree_id) = if flags & flags::ASYNC_COMMAND != 0 {
            (r.u64()?, 0, 0)
        } else {
            (0, r.u32()?, r.u32()?)
        };
        let session_id = r.u64()?;
        let signature = r.array()?;
        Ok(Header {
            credit_charge,
            status,
            command,
            credits,
            flags,
            next_command,
            message_id,
            async_id,
            tree_id,
            process_id,
            session_id,
            signature,
        })
    }

    /// Appends the 64-byte header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put(&PROTOCOL_ID);
        out.put_u16(64);
        out.put_u16(self.credit_charge);
        out.put_u32(self.status);
        out.put_u16(self.command);
        out.put_u16(self.credits);
        out.put_u32(self.flags);
        out.put_u32(self.next_command);
        out.put_u64(self.message_id);
        if self.is_async() {
            out.put_u64(self.async_id);
        } else {
            out.put_u32(self.process_id);
            out.put_u32(self.tree_id);
        }
        out.put_u64(self.session_id);
        out.put(&self.signature);
    }

    /// A response header for this request: same command/message id/ids, the
    /// SERVER_TO_REDIR flag, the request's RELATED/SIGNED-independent flags dropped.
    pub fn response(&self, status: u32, credits: u16) -> Header {
        Header {
            credit_charge: self.credit_charge,
            status,
            command: self.command,
            credits,
            flags: flags::SERVER_TO_REDIR
                | (self.flags & (flags::RELATED_OPERATIONS | flags::PRIORITY_MASK)),
            next_command: 0,
            message_id: self.message_id,
            async_id: 0,
            tree_id: self.tree_id,
            process_id: self.process_id,
            session_id: self.session_id,
            signature: [0; 16],
        }
    }
}

/// Splits a (possibly compound) SMB2 message into its requests. Each element is the
/// slice from its header to the next header (or the end), so body offsets, which are
/// relative to the header, index that slice directly. Errors if a NextCommand is not
/// 8-byte aligned, smaller than a header, or points outside the frame, or if any
/// element is shorter than a header. `max_count` bounds the chain length.
pub fn split_compound(msg: &[u8], max_count: usize) -> Result<Vec<(Header, &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        let rest = msg.get(at..).unwrap_or(&[]);
        let hdr = Header::decode(rest)?;
        let next = hdr.next_command as usize;
        if next == 0 {
            out.push((hdr, rest));
            return Ok(out);
        }
        if next % 8 != 0 || next < HEADER_LEN || next >= rest.len() {
            return Err(WireError::BadCompound(hdr.next_command));
        }
        out.push((hdr, &rest[..next]));
        if out.len() >= max_count {
            return Err(WireError::BadCompound(hdr.next_command));
        }
        at += next;
    }
}

/// Builds a compound response: pads every message but the last to 8 bytes and patches
/// its NextCommand. Returns the concatenation. Signing, if any, must happen after this
/// (each element is signed over its own padded bytes), see `crypto::sign_compound`.
pub fn join_compound(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let start = out.len();
        out.put(m);
        if i + 1 < messages.len() {
            out.align(8);
            let next = (out.len() - start) as u32;
            out.set_u32(start + 20, next);
        }
    }
    out
}

/// Offsets of each header in a compound message built by [`join_compound`].
pub fn compound_offsets(msg: &[u8]) -> Result<Vec<(usize, usize)>> {
    let mut v = Vec::new();
    let mut at = 0usize;
    for (_, m) in split_compound(msg, usize::MAX)? {
        v.push((at, m.len()));
        at += m.len();
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(cmd: Command, mid: u64) -> Header {
        Header {
            command: cmd as u16,
            credits: 1,
            message_id: mid,
            tree_id: 7,
            session_id: 9,
            ..Header::default()
        }
    }

    #[test]
    fn header_round_trip_sync_and_async() {
        let mut h = hdr(Command::Read, 42);
        h.signature = [3; 16];
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), 64);
        assert_eq!(Header::decode(&b).unwrap(), h);
        let mut a = h;
        a.flags |= flags::ASYNC_COMMAND;
        a.async_id = 0xDEAD;
        a.tree_id = 0;
        let mut b = Vec::new();
        a.encode(&mut b);
        assert_eq!(Header::decode(&b).unwrap(), a);
        assert!(Header::decode(&b[..63]).is_err());
        b[4] = 65;
        assert!(matches!(
            Header::decode(&b),
            Err(WireError::BadStructureSize { .. })
        ));
    }

    #[test]
    fn compound_split_and_join() {
        let mut m1 = Vec::new();
        hdr(Command::Create, 1).encode(&mut m1);
        m1.extend_from_slice(&[1, 2, 3]);
        let mut m2 = Vec::new();
        hdr(Command::Close, 2).encode(&mut m2);
        let joined = join_compound(&[m1.clone(), m2.clone()]);
        let parts = split_compound(&joined, 16).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].1.len(), 72);
        assert_eq!(parts[1].0.message_id, 2);
        // NextCommand pointing past the end.
        let mut bad = joined.clone();
        bad[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(split_compound(&bad, 16).is_err());
        // Misaligned.
        bad[20..24].copy_from_slice(&68u32.to_le_bytes());
        assert!(split_compound(&bad, 16).is_err());
        // Chain limit.
        assert!(split_compound(&joined, 1).is_err());
    }
}
