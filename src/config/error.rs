//! The one error type of configuration loading and validation.
//!
//! Every variant names where the problem is (the file, or the embedded default)
//! and, where there is one, the key path (`shares[0].metadata_store`), because the
//! person reading it is an operator looking at a unit that failed to start.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a configuration came from: a file, or the defaults compiled into the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Embedded,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::Embedded => f.write_str("<embedded default config>"),
        }
    }
}

/// A configuration that could not be read, parsed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, permissions, not UTF-8).
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type. `key` is empty when the
    /// error is not tied to one (a syntax error); `line`/`column` are 1-based.
    #[error("{}{}{}: {message}", path.display(), location(*line, *column), key_prefix(key))]
    Parse {
        path: PathBuf,
        key: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// The file parsed but a value breaks a rule.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: ConfigSource,
        key: String,
        message: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(": {key}")
    }
}

impl ConfigError {
    /// A rule violation; the source is filled in by [`ConfigError::in_source`].
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: ConfigSource::Embedded,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Attributes a validation error to where the configuration came from.
    /// `Config::validate` does not know the file; callers that do attach it here.
    pub fn in_source(self, origin: ConfigSource) -> ConfigError {
        match self {
            ConfigError::Invalid { key, message, .. } => ConfigError::Invalid {
                origin,
                key,
                message,
            },
            other => other,
        }
    }

    /// Shorthand for `in_source(ConfigSource::File(path))`.
    pub fn in_file(self, path: &Path) -> ConfigError {
        self.in_source(ConfigSource::File(path.to_owned()))
    }

    /// The key path the error is about, if any (`adapters.nfs.port`).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Parse { key, .. } | ConfigError::Invalid { key, .. } => {
                (!key.is_empty()).then_some(key.as_str())
            }
        }
    }
}
