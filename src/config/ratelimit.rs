//! `[rate_limit]` and `[shares.rate_limit]`: token-bucket limits per client
//! address and per user, in requests and bytes per second, with burst.
//!
//! A rate of 0 means "no limit" and is the default everywhere, so a file
//! without these tables throttles nobody. The global table applies to every
//! request; a share's table adds its own buckets for requests to that share
//! (a request must fit both). Validation lives here beside the schema.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Highest requests_per_s / requests_burst accepted.
pub const REQUESTS_PER_S_MAX: u64 = 100_000_000;
/// Highest bytes_per_s / bytes_burst accepted (1 PiB).
pub const BYTES_PER_S_MAX: u64 = 1 << 50;
/// Longest throttle_log_interval_s accepted (a day).
pub const THROTTLE_LOG_INTERVAL_S_MAX: u64 = 86_400;

/// One pair of token buckets: requests and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitConfig {
    /// Sustained requests per second (0 = unlimited).
    pub requests_per_s: u64,
    /// Requests allowed at once above the rate (0 = requests_per_s, one second's worth).
    pub requests_burst: u64,
    /// Sustained bytes per second, request plus reply bytes (0 = unlimited).
    pub bytes_per_s: u64,
    /// Bytes allowed at once above the rate (0 = bytes_per_s).
    pub bytes_burst: u64,
}

impl LimitConfig {
    /// Whether this limits nothing.
    pub fn is_unlimited(&self) -> bool {
        self.requests_per_s == 0 && self.bytes_per_s == 0
    }

    /// The request bucket's capacity (burst, defaulted).
    pub fn effective_requests_burst(&self) -> u64 {
        if self.requests_burst == 0 {
            self.requests_per_s
        } else {
            self.requests_burst
        }
    }

    /// The byte bucket's capacity (burst, defaulted).
    pub fn effective_bytes_burst(&self) -> u64 {
        if self.bytes_burst == 0 {
            self.bytes_per_s
        } else {
            self.bytes_burst
        }
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let field = |f: &str| format!("{key}.{f}");
        if self.requests_per_s > REQUESTS_PER_S_MAX {
            return Err(ConfigError::invalid(
                field("requests_per_s"),
                format!("{} exceeds {REQUESTS_PER_S_MAX}", self.requests_per_s),
            ));
        }
        if self.requests_burst > REQUESTS_PER_S_MAX {
            return Err(ConfigError::invalid(
                field("requests_burst"),
                format!("{} exceeds {REQUESTS_PER_S_MAX}", self.requests_burst),
            ));
        }
        if self.bytes_per_s > BYTES_PER_S_MAX {
            return Err(ConfigError::invalid(
                field("bytes_per_s"),
                format!("{} exceeds {BYTES_PER_S_MAX}", self.bytes_per_s),
            ));
        }
        if self.bytes_burst > BYTES_PER_S_MAX {
            return Err(ConfigError::invalid(
                field("bytes_burst"),
                format!("{} exceeds {BYTES_PER_S_MAX}", self.bytes_burst),
            ));
        }
        if self.requests_burst != 0 && self.requests_per_s == 0 {
            return Err(ConfigError::invalid(
                field("requests_burst"),
                "is set but requests_per_s is 0 (unlimited); set both or neither",
            ));
        }
        if self.bytes_burst != 0 && self.bytes_per_s == 0 {
            return Err(ConfigError::invalid(
                field("bytes_burst"),
                "is set but bytes_per_s is 0 (unlimited); set both or neither",
            ));
        }
        Ok(())
    }
}

/// `[rate_limit]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// At most one "throttling client X" log line per key per this many seconds.
    pub throttle_log_interval_s: u64,
    /// Buckets per client IP address.
    pub per_client: LimitConfig,
    /// Buckets per user (AUTH_SYS uid as sent).
    pub per_user: LimitConfig,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            throttle_log_interval_s: 60,
            per_client: LimitConfig::default(),
            per_user: LimitConfig::default(),
        }
    }
}

impl RateLimitConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=THROTTLE_LOG_INTERVAL_S_MAX).contains(&self.throttle_log_interval_s) {
            return Err(ConfigError::invalid(
                "rate_limit.throttle_log_interval_s",
                format!(
                    "{} is outside 1..={THROTTLE_LOG_INTERVAL_S_MAX}",
                    self.throttle_log_interval_s
                ),
            ));
        }
        self.per_client.validate("rate_limit.per_client")?;
        self.per_user.validate("rate_limit.per_user")
    }
}

/// `[shares.rate_limit]`: extra buckets for the requests to one share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShareRateLimitConfig {
    /// Buckets per (share, client IP address).
    pub per_client: LimitConfig,
    /// Buckets per (share, user).
    pub per_user: LimitConfig,
}

impl ShareRateLimitConfig {
    /// `key` is the table's path, e.g. `shares[0].rate_limit`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        self.per_client.validate(&format!("{key}.per_client"))?;
        self.per_user.validate(&format!("{key}.per_user"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_defaults_to_one_second_of_rate() {
        let l = LimitConfig {
            requests_per_s: 50,
            bytes_per_s: 1000,
            ..LimitConfig::default()
        };
        assert_eq!(l.effective_requests_burst(), 50);
        assert_eq!(l.effective_bytes_burst(), 1000);
        let l = LimitConfig {
            requests_burst: 7,
            ..l
        };
        assert_eq!(l.effective_requests_burst(), 7);
        assert!(!l.is_unlimited());
        assert!(LimitConfig::default().is_unlimited());
    }

    #[test]
    fn bad_limits_name_their_key() {
        let mut c = RateLimitConfig::default();
        c.validate().unwrap();
        c.per_user.requests_burst = 5;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("rate_limit.per_user.requests_burst"), "{e}");
        c.per_user.requests_per_s = 10;
        c.validate().unwrap();
        c.per_client.bytes_per_s = BYTES_PER_S_MAX + 1;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("rate_limit.per_client.bytes_per_s"), "{e}");
        let c = RateLimitConfig {
            throttle_log_interval_s: 0,
            ..RateLimitConfig::default()
        };
        assert!(c.validate().is_err());
        let s = ShareRateLimitConfig {
            per_client: LimitConfig {
                bytes_burst: 1,
                ..LimitConfig::default()
            },
            ..ShareRateLimitConfig::default()
        };
        let e = s.validate("shares[2].rate_limit").unwrap_err().to_string();
        assert!(
            e.contains("shares[2].rate_limit.per_client.bytes_burst"),
            "{e}"
        );
    }
}
