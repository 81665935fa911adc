//! Typed decode errors. Every decoder in this crate returns `WireError` instead of
//! panicking, so the server adapter can map a hostile frame to an NTSTATUS (usually
//! STATUS_INVALID_PARAMETER) or drop the connection, never crash.

use thiserror::Error;

/// Why a byte sequence is not a valid SMB2/3 (or NTLMSSP/SPNEGO) structure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// Fewer bytes than the fixed part of the structure needs.
    #[error("truncated: need {need} bytes at {at}, have {have}")]
    Truncated { at: usize, need: usize, have: usize },
    /// A StructureSize field that does not match the command.
    #[error("bad structure size for {what}: got {got}, want {want}")]
    BadStructureSize {
        what: &'static str,
        got: u16,
        want: u16,
    },
    /// ProtocolId is not 0xFE 'SMB' (or 0xFD for a transform header).
    #[error("bad protocol id {0:02x?}")]
    BadProtocolId([u8; 4]),
    /// An offset/length pair points outside the message it belongs to.
    #[error("{what}: offset {offset} + length {len} is outside the {frame}-byte message")]
    OutOfFrame {
        what: &'static str,
        offset: usize,
        len: usize,
        frame: usize,
    },
    /// An offset that lands inside the fixed part, or is misaligned where the spec
    /// requires alignment.
    #[error("{what}: bad offset {offset}")]
    BadOffset { what: &'static str, offset: usize },
    /// A transport frame longer than the server accepts.
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(usize),
    /// A UTF-16LE string with an odd byte length or unpaired surrogate.
    #[error("bad UTF-16 string in {0}")]
    BadUtf16(&'static str),
    /// A field whose value the spec does not allow.
    #[error("bad value in {0}")]
    BadValue(&'static str),
    /// A compound chain whose NextCommand is misaligned or out of the frame.
    #[error("bad compound chain: NextCommand {0}")]
    BadCompound(u32),
    /// Malformed ASN.1 DER in a SPNEGO token.
    #[error("bad DER: {0}")]
    Der(&'static str),
    /// Malformed NTLMSSP message.
    #[error("bad NTLMSSP: {0}")]
    Ntlm(&'static str),
}

/// Result alias for the crate's decoders.
pub type Result<T> = std::result::Result<T, WireError>;
