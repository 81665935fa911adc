//! ONC RPC (RFC 5531) and XDR (RFC 4506): record marking, call/reply messages, auth.
//!
//! Everything here is a pure codec (bytes in, typed values out, and back); the
//! runtime owns the sockets and the `nfs` module owns the programs. Keeping the
//! framing and message layers free of I/O lets them be property-tested and fuzzed.

pub mod message;
pub mod record;
pub mod xdr;

pub use message::{AcceptStat, Auth, AuthStat, AuthSys, CallError, CallHeader, ReplyStat};
pub use record::{record_mark, RecordAssembler, RecordError};
pub use xdr::{XdrError, XdrReader, XdrWriter};

/// Why a record cannot be answered at all; the runtime closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("record is not an RPC call")]
    NotACall,
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Xdr(#[from] XdrError),
}
