//! Authentication: SPNEGO (RFC 4178 / MS-SPNG) carrying NTLMSSP (MS-NLMP), NTLMv2
//! verification from a stored NT hash, and the small DER reader both need.

pub mod der;
pub mod ntlm;
pub mod spnego;

use thiserror::Error;

/// Why an authentication attempt failed (distinct from a malformed message, which is
/// a `WireError`). The adapter answers STATUS_LOGON_FAILURE for all of these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("NTLMv2 response does not match the password")]
    WrongPassword,
    #[error("NTLMv1/LM responses are refused (NTLMv2 only)")]
    NotNtlmV2,
    #[error("MIC does not verify")]
    BadMic,
    #[error("SPNEGO mechListMIC does not verify")]
    BadMechListMic,
    #[error("no NTLMSSP mechanism offered")]
    NoNtlmMech,
}
