//! `[identity]`: where users and groups live and the policy the identity
//! service applies (number ranges, guest access, password hashing cost).
//!
//! Kept in its own file so the schema in `mod.rs` only gains one field; the
//! rules are checked by [`IdentityConfig::validate`], called from
//! [`super::Config::validate`].

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, SharePermission};

/// Lowest bcrypt cost accepted (the bcrypt crate's minimum).
pub const BCRYPT_COST_MIN: u32 = 4;
/// Highest bcrypt cost accepted.
pub const BCRYPT_COST_MAX: u32 = 31;

/// What a guest (an SMB session without an account, or anonymous) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestPolicy {
    /// Guest and anonymous logins are refused.
    Off,
    /// At most read access (and never more than the share default).
    Read,
    /// At most read-write access (and never more than the share default).
    ReadWrite,
}

impl GuestPolicy {
    /// The most a guest may get, as a share permission.
    pub fn cap(self) -> SharePermission {
        match self {
            GuestPolicy::Off => SharePermission::None,
            GuestPolicy::Read => SharePermission::Read,
            GuestPolicy::ReadWrite => SharePermission::ReadWrite,
        }
    }
}

/// `[identity]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// The `[metadata_stores.NAME]` holding users and groups; unset = the
    /// metadata store of the first share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_store: Option<String>,
    /// Range from which uids are assigned when none is given (inclusive).
    pub uid_min: u32,
    pub uid_max: u32,
    /// Range from which gids are assigned when none is given (inclusive).
    pub gid_min: u32,
    pub gid_max: u32,
    /// Guest / anonymous access (SMB).
    pub guest: GuestPolicy,
    /// bcrypt cost of new password hashes (4..=31; each step doubles the work).
    pub bcrypt_cost: u32,
    /// Members of this group may use the admin API with their password.
    pub admin_group: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            metadata_store: None,
            uid_min: 1000,
            uid_max: 60000,
            gid_min: 1000,
            gid_max: 60000,
            guest: GuestPolicy::Off,
            bcrypt_cost: 12,
            admin_group: "dittofs-admins".to_owned(),
        }
    }
}

impl IdentityConfig {
    /// Checks `[identity]` against the rest of `config`.
    pub fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        if let Some(store) = &self.metadata_store {
            if !config.metadata_stores.contains_key(store) {
                return Err(ConfigError::invalid(
                    "identity.metadata_store",
                    format!("names no [metadata_stores.{store}]"),
                ));
            }
        }
        for (key, min, max) in [
            ("uid", self.uid_min, self.uid_max),
            ("gid", self.gid_min, self.gid_max),
        ] {
            if min == 0 {
                return Err(ConfigError::invalid(
                    format!("identity.{key}_min"),
                    "must be at least 1 (0 is root)",
                ));
            }
            if max < min {
                return Err(ConfigError::invalid(
                    format!("identity.{key}_max"),
                    format!("must be at least identity.{key}_min ({min})"),
                ));
            }
            if max >= u32::MAX - 1 {
                return Err(ConfigError::invalid(
                    format!("identity.{key}_max"),
                    "must be below 4294967294 (-1 and -2 mean nobody to NFS clients)",
                ));
            }
        }
        if !(BCRYPT_COST_MIN..=BCRYPT_COST_MAX).contains(&self.bcrypt_cost) {
            return Err(ConfigError::invalid(
                "identity.bcrypt_cost",
                format!("must be in {BCRYPT_COST_MIN}..={BCRYPT_COST_MAX}"),
            ));
        }
        if self.admin_group.is_empty() {
            return Err(ConfigError::invalid(
                "identity.admin_group",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Name of the metadata store that holds users and groups:
    /// `identity.metadata_store`, else the first share's store.
    pub fn identity_store_name(&self) -> Option<&str> {
        self.identity
            .metadata_store
            .as_deref()
            .or_else(|| self.shares.first().map(|s| s.metadata_store.as_str()))
    }
}
