//! The SMB2/3 side of the harness: a pipelined client ([`conn`]), the session
//! handshake ([`session`]: NEGOTIATE, NTLMv2 over SPNEGO, optional signing, TREE_CONNECT),
//! typed operations ([`ops`]) and the workloads ([`run`]). Codecs come from the
//! `dittofs-smb-wire` crate, so this drives dittofs and Samba alike with the same
//! workload names and report format as the NFS side.

pub mod conn;
pub mod ops;
pub mod run;
pub mod session;

use serde::Serialize;

use dittofs_smb_wire::WireError;

/// Why an SMB operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmbError {
    #[error("connect to {0}")]
    Connect(String),
    #[error("connection closed before the response")]
    Closed,
    #[error("undecodable response: {0}")]
    Wire(WireError),
    #[error("NT status 0x{0:08x}")]
    Status(u32),
    #[error("signing: {0}")]
    Crypto(String),
    #[error("authentication: {0}")]
    Auth(String),
}

impl SmbError {
    /// The key errors are counted under.
    pub fn key(&self) -> String {
        match self {
            SmbError::Connect(_) => "CONNECT".into(),
            SmbError::Closed => "CONNECTION_CLOSED".into(),
            SmbError::Wire(_) => "GARBAGE_RESPONSE".into(),
            SmbError::Status(s) => format!("NT_STATUS_0x{s:08X}"),
            SmbError::Crypto(_) => "SIGNING".into(),
            SmbError::Auth(_) => "AUTH".into(),
        }
    }
}

/// Dialect offered by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SmbDialect {
    /// 3.1.1 (preauth integrity; AES-CMAC signing).
    Smb311,
    /// 3.0.2 (AES-CMAC signing).
    Smb302,
    /// 2.1 (HMAC-SHA256 signing).
    Smb21,
}

impl SmbDialect {
    pub fn parse(s: &str) -> Option<SmbDialect> {
        match s {
            "3.1.1" | "311" => Some(SmbDialect::Smb311),
            "3.0.2" | "302" => Some(SmbDialect::Smb302),
            "2.1" | "210" => Some(SmbDialect::Smb21),
            _ => None,
        }
    }

    pub fn code(self) -> u16 {
        use dittofs_smb_wire::negotiate::{DIALECT_210, DIALECT_302, DIALECT_311};
        match self {
            SmbDialect::Smb311 => DIALECT_311,
            SmbDialect::Smb302 => DIALECT_302,
            SmbDialect::Smb21 => DIALECT_210,
        }
    }
}

/// Credentials and session options of an SMB run.
#[derive(Debug, Clone, Serialize)]
pub struct SmbOptions {
    pub user: String,
    #[serde(skip)]
    pub password: String,
    pub domain: String,
    pub share: String,
    pub dialect: SmbDialect,
    /// Sign every request (the server is told signing is required).
    pub sign: bool,
}
