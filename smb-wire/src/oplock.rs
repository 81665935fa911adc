//! OPLOCK_BREAK (MS-SMB2 2.2.23-2.2.25): oplock break notification/acknowledgment/
//! response (24 bytes) and lease break notification (44), acknowledgment and response
//! (36); plus the ERROR response (2.2.2).

use crate::buf::{len32, Put, Reader};
use crate::create::FileId;
use crate::error::{Result, WireError};
use crate::header::HEADER_LEN;

pub const LEASE_BREAK_FLAG_ACK_REQUIRED: u32 = 0x01;
/// MessageId of every server-to-client notification (MS-SMB2 3.3.4.6/3.3.4.7).
pub const NOTIFICATION_MESSAGE_ID: u64 = u64::MAX;

/// A complete unsolicited OPLOCK_BREAK notification message (header + body): MessageId
/// `u64::MAX`, SERVER_TO_REDIR, no session, tree or signature (the caller encrypts it
/// when the session requires; notifications are not signed, as Samba and Windows do).
pub fn encode_break_notification(body: &OplockBreak) -> Vec<u8> {
    let h = crate::header::Header {
        command: crate::header::Command::OplockBreak as u16,
        flags: crate::header::flags::SERVER_TO_REDIR,
        message_id: NOTIFICATION_MESSAGE_ID,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(HEADER_LEN + 44);
    h.encode(&mut out);
    body.encode(&mut out);
    out
}

/// Whether a lease break from `current` to `new` needs the client's acknowledgment:
/// always, except when only read caching is lost (MS-SMB2 3.3.4.7).
pub fn lease_break_needs_ack(current: u32) -> bool {
    current & !crate::create_ctx::LEASE_READ != 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OplockBreak {
    /// Notification, acknowledgment and response share this layout.
    Oplock { oplock_level: u8, file_id: FileId },
    /// Server-to-client lease break notification.
    LeaseNotification {
        new_epoch: u16,
        flags: u32,
        lease_key: [u8; 16],
        current_state: u32,
        new_state: u32,
    },
    /// Client acknowledgment and server response.
    LeaseAck {
        flags: u32,
        lease_key: [u8; 16],
        lease_state: u32,
        lease_duration: u64,
    },
}

impl OplockBreak {
    /// Dispatches on StructureSize: 24 oplock, 36 lease ack/response, 44 notification.
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        let size = r.u16()?;
        Ok(match size {
            24 => {
                let oplock_level = r.u8()?;
                r.skip(5)?;
                OplockBreak::Oplock {
                    oplock_level,
                    file_id: FileId::read(&mut r)?,
                }
            }
            36 => {
                r.skip(2)?;
                OplockBreak::LeaseAck {
                    flags: r.u32()?,
                    lease_key: r.array()?,
                    lease_state: r.u32()?,
                    lease_duration: r.u64()?,
                }
            }
            44 => {
                let new_epoch = r.u16()?;
                let flags = r.u32()?;
                let lease_key = r.array()?;
                let current_state = r.u32()?;
                let new_state = r.u32()?;
                r.skip(12)?;
                OplockBreak::LeaseNotification {
                    new_epoch,
                    flags,
                    lease_key,
                    current_state,
                    new_state,
                }
            }
            got => {
                return Err(WireError::BadStructureSize {
                    what: "OPLOCK_BREAK",
                    got,
                    want: 24,
                })
            }
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        match *self {
            OplockBreak::Oplock {
                oplock_level,
                file_id,
            } => {
                body.put_u16(24);
                body.put_u8(oplock_level);
                body.zeros(5);
                file_id.put(body);
            }
            OplockBreak::LeaseAck {
                flags,
                lease_key,
                lease_state,
                lease_duration,
            } => {
                body.put_u16(36);
                body.put_u16(0);
                body.put_u32(flags);
                body.put(&lease_key);
                body.put_u32(lease_state);
                body.put_u64(lease_duration);
            }
            OplockBreak::LeaseNotification {
                new_epoch,
                flags,
                lease_key,
                current_state,
                new_state,
            } => {
                body.put_u16(44);
                body.put_u16(new_epoch);
                body.put_u32(flags);
                body.put(&lease_key);
                body.put_u32(current_state);
                body.put_u32(new_state);
                body.zeros(12);
            }
        }
    }
}

/// ERROR response body: StructureSize 9, ErrorContextCount 0, ByteCount, ErrorData
/// (at least one byte). `data` is e.g. the required size for STATUS_BUFFER_TOO_SMALL.
pub fn encode_error_response(data: &[u8], body: &mut Vec<u8>) {
    body.put_u16(9);
    body.put_u8(0);
    body.put_u8(0);
    body.put_u32(len32(data.len()));
    body.put(data);
    if data.is_empty() {
        body.put_u8(0);
    }
}

/// Decodes an ERROR response body and returns its ErrorData.
pub fn decode_error_response(msg: &[u8]) -> Result<&[u8]> {
    let mut r = Reader::at(msg, HEADER_LEN);
    crate::buf::expect_size(&mut r, "ERROR response", 9)?;
    r.skip(2)?;
    let n = r.u32()? as usize;
    r.bytes(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{Command, Header};

    #[test]
    fn notification_is_a_decodable_unsolicited_message() {
        let body = OplockBreak::LeaseNotification {
            new_epoch: 3,
            flags: LEASE_BREAK_FLAG_ACK_REQUIRED,
            lease_key: [7; 16],
            current_state: 7,
            new_state: 3,
        };
        let msg = encode_break_notification(&body);
        assert_eq!(msg.len(), HEADER_LEN + 44);
        let h = Header::decode(&msg).unwrap();
        assert_eq!(h.cmd(), Some(Command::OplockBreak));
        assert_eq!(h.message_id, u64::MAX);
        assert!(h.is_response());
        assert_eq!((h.session_id, h.tree_id), (0, 0));
        assert_eq!(OplockBreak::decode(&msg).unwrap(), body);
        let ob = OplockBreak::Oplock {
            oplock_level: 1,
            file_id: FileId {
                persistent: 5,
                volatile: 6,
            },
        };
        let msg = encode_break_notification(&ob);
        assert_eq!(msg.len(), HEADER_LEN + 24);
        assert_eq!(OplockBreak::decode(&msg).unwrap(), ob);
    }

    #[test]
    fn ack_needed_unless_only_read_is_lost() {
        assert!(!lease_break_needs_ack(1));
        assert!(lease_break_needs_ack(3));
        assert!(lease_break_needs_ack(5));
        assert!(lease_break_needs_ack(7));
    }
}
