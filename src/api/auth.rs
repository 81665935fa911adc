//! Admin API credentials: bearer tokens stored hashed, and HTTP Basic.
//!
//! `dittofs admin token create` draws 32 random bytes, prints them once (hex,
//! prefixed `dfs_`) and appends only their SHA-256 to `<data_dir>/admin-tokens`
//! (mode 0600): a leaked file does not let anyone in. The server re-reads the
//! file on every authenticated request, so a new token works without a
//! restart and removing its line revokes it. HTTP Basic is checked by the
//! identity system ([`AdminOps::check_basic`], bcrypt). Failures are logged
//! with the client address and the scheme, never the secret.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::admin::{AdminOps, BasicAuth};

/// File name of the token hashes under the data directory.
pub const TOKENS_FILE: &str = "admin-tokens";
/// Prefix of printed tokens (makes them recognisable in secret scanners).
pub const TOKEN_PREFIX: &str = "dfs_";

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot draw random bytes: {0}")]
    Random(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Outcome of authenticating a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Allowed; the string says who (token name or user), for the log.
    Allowed(String),
    /// No or bad credentials: 401.
    Unauthenticated(&'static str),
    /// Good credentials without the right: 403.
    Forbidden(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of a token as printed.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.trim().as_bytes()))
}

/// Creates a token named `name`, stores its hash under `data_dir` and returns it.
pub fn create_token(data_dir: &Path, name: &str) -> Result<String, TokenError> {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw).map_err(|e| TokenError::Random(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{}", hex(&raw));
    let path = data_dir.join(TOKENS_FILE);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(data_dir)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        let name: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        writeln!(f, "{} {} {created}", token_hash(&token), name)?;
        f.sync_all()
    };
    write().map_err(|source| TokenError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(token)
}

/// Constant-time equality of two equally long strings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The name of the stored token matching `token`, if any.
pub fn check_token(tokens_file: &Path, token: &str) -> Option<String> {
    let text = std::fs::read_to_string(tokens_file).ok()?;
    let hash = token_hash(token);
    let mut found = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(stored), name) = (fields.next(), fields.next()) else {
            continue;
        };
        if same(stored, &hash) && found.is_none() {
            found = Some(name.unwrap_or("token").to_owned());
        }
    }
    found
}

/// Authenticates an `Authorization` header value.
pub fn authenticate(header: Option<&str>, tokens_file: &Path, admin: &dyn AdminOps) -> Auth {
    let Some(header) = header else {
        return Auth::Unauthenticated("no credentials");
    };
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return match check_token(tokens_file, rest) {
            Some(name) => Auth::Allowed(format!("token {name}")),
            None => Auth::Unauthenticated("unknown bearer token"),
        };
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let Some((user, password)) = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        else {
            return Auth::Unauthenticated("malformed basic credentials");
        };
        return match admin.check_basic(&user, &password) {
            BasicAuth::Admin => Auth::Allowed(format!("user {user}")),
            BasicAuth::NotAdmin => Auth::Forbidden(format!("user {user} is not an admin")),
            BasicAuth::Invalid => Auth::Unauthenticated("wrong user or password"),
        };
    }
    Auth::Unauthenticated("unsupported authorization scheme")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::admin::NoIdentity;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_token_is_stored_hashed_and_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let token = create_token(dir.path(), "ci").unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        let file = dir.path().join(TOKENS_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(&token[TOKEN_PREFIX.len()..]),
            "secret stored"
        );
        assert!(text.starts_with(&token_hash(&token)));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let header = format!("Bearer {token}");
        assert_eq!(
            authenticate(Some(&header), &file, &NoIdentity),
            Auth::Allowed("token ci".into())
        );
        // Change the last hex digit (to '0', or '1' when it already is '0').
        let last = if token.ends_with('0') { '1' } else { '0' };
        let wrong = format!("Bearer {}{last}", &token[..token.len() - 1]);
        assert!(matches!(
            authenticate(Some(&wrong), &file, &NoIdentity),
            Auth::Unauthenticated(_)
        ));
        // A second token does not invalidate the first.
        let other = create_token(dir.path(), "other").unwrap();
        assert_ne!(other, token);
        assert!(check_token(&file, &token).is_some());
    }

    #[test]
    fn missing_or_malformed_credentials_are_unauthenticated() {
        let file = Path::new("/nonexistent/admin-tokens");
        for h in [
            None,
            Some("Bearer x"),
            Some("Basic !!!"),
            Some("Digest abc"),
        ] {
            assert!(matches!(
                authenticate(h, file, &NoIdentity),
                Auth::Unauthenticated(_)
            ));
        }
    }

    struct OneAdmin;
    impl AdminOps for OneAdmin {
        fn identity(&self, _: &str, _: &str, _: &[u8]) -> (u16, String) {
            (501, String::new())
        }
        fn check_basic(&self, user: &str, password: &str) -> BasicAuth {
            match (user, password) {
                ("root", "pw") => BasicAuth::Admin,
                ("bob", "pw") => BasicAuth::NotAdmin,
                _ => BasicAuth::Invalid,
            }
        }
    }

    #[test]
    fn basic_auth_goes_to_the_identity_system() {
        let file = Path::new("/nonexistent/admin-tokens");
        let basic = |u: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(u)
            )
        };
        assert_eq!(
            authenticate(Some(&basic("root:pw")), file, &OneAdmin),
            Auth::Allowed("user root".into())
        );
        assert!(matches!(
            authenticate(Some(&basic("bob:pw")), file, &OneAdmin),
            Auth::Forbidden(_)
        ));
        assert!(matches!(
            authenticate(Some(&basic("root:nope")), file, &OneAdmin),
            Auth::Unauthenticated(_)
        ));
    }
}
