//! Password hashes: bcrypt for logins to dittofs itself (admin API), and the
//! NT hash NTLM needs (MD4 of the UTF-16LE password; a password equivalent,
//! so it is never logged and never leaves the store through the API).

use md4::{Digest, Md4};

use super::IdentityError;

/// bcrypt uses at most this many bytes of a password; longer ones are refused
/// rather than silently cut.
pub const PASSWORD_BYTES_MAX: usize = 72;

/// Checks the password rules: not empty, at most [`PASSWORD_BYTES_MAX`] bytes,
/// no NUL (bcrypt stops at NUL).
pub fn check_password(password: &str) -> Result<(), IdentityError> {
    if password.is_empty() {
        return Err(IdentityError::InvalidPassword("must not be empty"));
    }
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(IdentityError::InvalidPassword(
            "at most 72 bytes (bcrypt's limit)",
        ));
    }
    if password.contains('\0') {
        return Err(IdentityError::InvalidPassword("must not contain NUL"));
    }
    Ok(())
}

/// The bcrypt hash (`$2b$…`) of `password` at `cost`.
pub fn bcrypt_hash(password: &str, cost: u32) -> Result<String, IdentityError> {
    bcrypt::hash(password, cost).map_err(|e| IdentityError::Hash(e.to_string()))
}

/// Whether `password` matches the bcrypt `hash`; a malformed hash never matches.
pub fn verify_bcrypt(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// The NT hash: MD4 over the UTF-16LE encoding of `password`.
pub fn nt_hash(password: &str) -> [u8; 16] {
    let mut md4 = Md4::new();
    for unit in password.encode_utf16() {
        md4.update(unit.to_le_bytes());
    }
    md4.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_hash_matches_known_vectors() {
        // MS-NLMP 4.2.1: NTOWFv1("Password").
        assert_eq!(
            nt_hash("Password"),
            [
                0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca, 0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f,
                0xd8, 0x52
            ]
        );
        assert_ne!(nt_hash("a"), nt_hash("A"));
    }

    #[test]
    fn bcrypt_round_trip_and_rules() {
        let h = bcrypt_hash("s3cret", 4).unwrap();
        assert!(h.starts_with("$2"));
        assert!(verify_bcrypt("s3cret", &h));
        assert!(!verify_bcrypt("s3creT", &h));
        assert!(!verify_bcrypt("s3cret", "not a hash"));
        assert!(check_password("").is_err());
        assert!(check_password(&"x".repeat(73)).is_err());
        assert!(check_password(&"x".repeat(72)).is_ok());
        assert!(check_password("a\0b").is_err());
    }
}
