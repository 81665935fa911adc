//! `[block_stores.NAME] type = "s3"`: the S3 block store's settings and their bounds.
//!
//! Kept apart from `mod.rs` because it is the one store with many knobs (endpoint,
//! credentials, multipart, retries, timeouts). Defaults are chosen for AWS; an
//! `endpoint` points it at any S3-protocol server (MinIO, Ceph RGW, moto, s3s).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ConfigError;

const MIB: u64 = 1024 * 1024;

/// S3's smallest part of a multipart upload (except the last): below this no
/// object can be split, so it is also the lowest multipart threshold.
pub const MULTIPART_THRESHOLD_BYTES_MIN: u64 = 5 * MIB;
/// S3's largest single PUT.
pub const MULTIPART_THRESHOLD_BYTES_MAX: u64 = 5 * 1024 * MIB;
/// ListObjectsV2 returns at most this many keys per page.
pub const LIST_PAGE_KEYS_MAX: u32 = 1000;
/// Most retries of one request.
pub const RETRIES_MAX: u32 = 20;
/// Bounds of the first retry's delay.
pub const RETRY_BASE_DELAY_MS_MAX: u64 = 60_000;
/// Bounds of one request's timeout.
pub const REQUEST_TIMEOUT_MS_MIN: u64 = 100;
pub const REQUEST_TIMEOUT_MS_MAX: u64 = 600_000;

/// `[block_stores.NAME]` with `type = "s3"`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3BlockStoreConfig {
    /// Server URL (`http://127.0.0.1:9000`); unset means AWS for `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Signing region (and the AWS region when no endpoint is set).
    #[serde(default = "default_region")]
    pub region: String,
    /// Bucket holding the objects; must exist (checked at startup).
    pub bucket: String,
    /// Prepended verbatim to every object key (end it with '/' for a "folder").
    #[serde(default)]
    pub prefix: String,
    /// Path-style addressing (`ENDPOINT/BUCKET/KEY`). rusoto only sends
    /// path-style requests, so `false` is rejected.
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// Static credentials; when unset, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
    /// then ~/.aws/credentials, then the container/instance role are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// Objects larger than this are sent as a multipart upload of 8 MiB parts.
    #[serde(default = "default_multipart_threshold_bytes")]
    pub multipart_threshold_bytes: u64,
    /// Keys asked for per ListObjectsV2 page (1..=1000).
    #[serde(default = "default_list_page_keys")]
    pub list_page_keys: u32,
    /// Retries of a request after a 5xx, a timeout or a connection error.
    #[serde(default = "default_retries_max")]
    pub retries_max: u32,
    /// Backoff before retry n is random in 0..base×2^n (full jitter), capped.
    #[serde(default = "default_retry_base_delay_ms")]
    pub retry_base_delay_ms: u64,
    /// Longest one request (with its body) may take before it is retried.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_multipart_threshold_bytes() -> u64 {
    16 * MIB
}
fn default_list_page_keys() -> u32 {
    LIST_PAGE_KEYS_MAX
}
fn default_retries_max() -> u32 {
    5
}
fn default_retry_base_delay_ms() -> u64 {
    100
}
fn default_request_timeout_ms() -> u64 {
    30_000
}

impl S3BlockStoreConfig {
    /// A configuration for `bucket` with every other key at its default.
    pub fn new(bucket: impl Into<String>) -> S3BlockStoreConfig {
        S3BlockStoreConfig {
            endpoint: None,
            region: default_region(),
            bucket: bucket.into(),
            prefix: String::new(),
            path_style: true,
            access_key_id: None,
            secret_access_key: None,
            multipart_threshold_bytes: default_multipart_threshold_bytes(),
            list_page_keys: default_list_page_keys(),
            retries_max: default_retries_max(),
            retry_base_delay_ms: default_retry_base_delay_ms(),
            request_timeout_ms: default_request_timeout_ms(),
        }
    }

    /// Checks every bound; `key` is the table's path (`block_stores.NAME`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let field = |f: &str| format!("{key}.{f}");
        check_bucket(&self.bucket).map_err(|m| ConfigError::invalid(field("bucket"), m))?;
        if let Some(endpoint) = &self.endpoint {
            check_endpoint(endpoint).map_err(|m| ConfigError::invalid(field("endpoint"), m))?;
        }
        if self.region.trim().is_empty() {
            return Err(ConfigError::invalid(field("region"), "must not be empty"));
        }
        if !self.path_style {
            return Err(ConfigError::invalid(
                field("path_style"),
                "virtual-hosted-style addressing is not supported (the S3 client sends \
                 path-style requests); set path_style = true",
            ));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(ConfigError::invalid(
                field("access_key_id"),
                "set both access_key_id and secret_access_key, or neither (to use the \
                 AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables)",
            ));
        }
        if self.access_key_id.as_deref() == Some("") {
            return Err(ConfigError::invalid(
                field("access_key_id"),
                "must not be empty",
            ));
        }
        let t = self.multipart_threshold_bytes;
        if !(MULTIPART_THRESHOLD_BYTES_MIN..=MULTIPART_THRESHOLD_BYTES_MAX).contains(&t) {
            return Err(ConfigError::invalid(
                field("multipart_threshold_bytes"),
                format!(
                    "{t} is outside {MULTIPART_THRESHOLD_BYTES_MIN}..={MULTIPART_THRESHOLD_BYTES_MAX} \
                     (5 MiB, S3's smallest part, to 5 GiB, its largest PUT)"
                ),
            ));
        }
        if !(1..=LIST_PAGE_KEYS_MAX).contains(&self.list_page_keys) {
            return Err(ConfigError::invalid(
                field("list_page_keys"),
                format!(
                    "{} is outside 1..={LIST_PAGE_KEYS_MAX}",
                    self.list_page_keys
                ),
            ));
        }
        if self.retries_max > RETRIES_MAX {
            return Err(ConfigError::invalid(
                field("retries_max"),
                format!("{} exceeds {RETRIES_MAX}", self.retries_max),
            ));
        }
        if !(1..=RETRY_BASE_DELAY_MS_MAX).contains(&self.retry_base_delay_ms) {
            return Err(ConfigError::invalid(
                field("retry_base_delay_ms"),
                format!(
                    "{} is outside 1..={RETRY_BASE_DELAY_MS_MAX}",
                    self.retry_base_delay_ms
                ),
            ));
        }
        if !(REQUEST_TIMEOUT_MS_MIN..=REQUEST_TIMEOUT_MS_MAX).contains(&self.request_timeout_ms) {
            return Err(ConfigError::invalid(
                field("request_timeout_ms"),
                format!(
                    "{} is outside {REQUEST_TIMEOUT_MS_MIN}..={REQUEST_TIMEOUT_MS_MAX}",
                    self.request_timeout_ms
                ),
            ));
        }
        Ok(())
    }
}

/// The secret never reaches a log line or an error message.
impl fmt::Debug for S3BlockStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlockStoreConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("multipart_threshold_bytes", &self.multipart_threshold_bytes)
            .field("list_page_keys", &self.list_page_keys)
            .field("retries_max", &self.retries_max)
            .field("retry_base_delay_ms", &self.retry_base_delay_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

/// S3's bucket naming rules, less the rarely met ones (no IP-address check).
fn check_bucket(bucket: &str) -> Result<(), String> {
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!("{bucket:?} must be 3 to 63 characters long"));
    }
    if let Some(c) = bucket
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(format!(
            "{bucket:?} contains {c:?}; use lowercase letters, digits, '-' and '.'"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(bucket.chars().next()) || !alnum(bucket.chars().last()) {
        return Err(format!(
            "{bucket:?} must start and end with a letter or digit"
        ));
    }
    if bucket.contains("..") {
        return Err(format!("{bucket:?} must not contain \"..\""));
    }
    Ok(())
}

/// An http(s) URL with a host, an optional port and no query.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or_else(|| format!("{endpoint:?} must start with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{endpoint:?} has no host"));
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
        || rest.contains(['?', '#'])
    {
        return Err(format!(
            "{endpoint:?} must be a plain URL (no spaces, query or fragment)"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "{endpoint:?} must not carry credentials; use access_key_id/secret_access_key"
        ));
    }
    // host, host:port, [v6], [v6]:port
    let port = if let Some(v6) = authority.strip_prefix('[') {
        let (_, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{endpoint:?} has an unclosed '['"))?;
        after.strip_prefix(':')
    } else {
        authority.split_once(':').map(|(_, p)| p)
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p != 0 => {}
            _ => return Err(format!("{endpoint:?} has an invalid port {port:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> S3BlockStoreConfig {
        let mut c = S3BlockStoreConfig::new("dittofs-blocks");
        c.endpoint = Some("http://127.0.0.1:9000".into());
        c
    }

    fn rejects(edit: impl FnOnce(&mut S3BlockStoreConfig), field: &str, needle: &str) {
        let mut c = valid();
        edit(&mut c);
        let err = c.validate("block_stores.s3").unwrap_err().to_string();
        assert!(
            err.contains(&format!("block_stores.s3.{field}")) && err.contains(needle),
            "{err}"
        );
    }

    #[test]
    fn defaults_are_valid() {
        valid().validate("x").unwrap();
        S3BlockStoreConfig::new("abc").validate("x").unwrap();
    }

    #[test]
    fn parses_with_defaults_and_requires_bucket() {
        let c: S3BlockStoreConfig = toml::from_str("bucket = \"b-1\"").unwrap();
        assert_eq!(c, S3BlockStoreConfig::new("b-1"));
        let err = toml::from_str::<S3BlockStoreConfig>("region = \"x\"").unwrap_err();
        assert!(err.to_string().contains("bucket"), "{err}");
        assert!(toml::from_str::<S3BlockStoreConfig>("bucket = \"b\"\nbogus = 1").is_err());
    }

    #[test]
    fn parses_inside_a_whole_config() {
        let text = "[block_stores.default]\ntype = \"s3\"\nbucket = \"blocks\"\n\
                    endpoint = \"http://127.0.0.1:9000\"\nretries_max = 2\n";
        let config = crate::config::Config::from_toml_str(text, "x.toml".as_ref()).unwrap();
        let mut want = S3BlockStoreConfig::new("blocks");
        want.endpoint = Some("http://127.0.0.1:9000".into());
        want.retries_max = 2;
        assert_eq!(
            config.block_stores["default"],
            crate::config::BlockStoreConfig::S3(want)
        );
        config.validate().unwrap();
        let bad = text.replace("blocks", "B");
        let config = crate::config::Config::from_toml_str(&bad, "x.toml".as_ref()).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("block_stores.default.bucket"), "{err}");
        let unknown = format!("{text}bogus = 1\n");
        assert!(crate::config::Config::from_toml_str(&unknown, "x.toml".as_ref()).is_err());
    }

    /// The commented `[block_stores.s3]` table of config.toml.example, uncommented.
    fn example_s3_table() -> String {
        let example = crate::config::EXAMPLE_TOML;
        let start = example
            .find("# [block_stores.s3]")
            .expect("config.toml.example has a commented [block_stores.s3] table");
        example[start..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn example_s3_table_parses_validates_and_names_every_key() {
        let text = example_s3_table();
        let config = crate::config::Config::from_toml_str(&text, "example".as_ref()).unwrap();
        let Some(crate::config::BlockStoreConfig::S3(s3)) = config.block_stores.get("s3") else {
            panic!("no s3 store in {text}");
        };
        s3.validate("block_stores.s3").unwrap();
        let mut all = S3BlockStoreConfig::new("x");
        all.endpoint = Some("http://h".into());
        all.access_key_id = Some("k".into());
        all.secret_access_key = Some("s".into());
        let toml::Value::Table(keys) = toml::Value::try_from(&all).unwrap() else {
            panic!("not a table");
        };
        for key in keys.keys() {
            assert!(text.contains(&format!("\n{key} = ")), "example lacks {key}");
        }
        // Apart from the placeholders, the example shows the defaults.
        let mut want = S3BlockStoreConfig::new("dittofs-blocks");
        want.endpoint = s3.endpoint.clone();
        want.access_key_id = s3.access_key_id.clone();
        want.secret_access_key = s3.secret_access_key.clone();
        assert_eq!(*s3, want);
    }

    #[test]
    fn bucket_rules() {
        rejects(|c| c.bucket = "ab".into(), "bucket", "3 to 63");
        rejects(|c| c.bucket = "a".repeat(64), "bucket", "3 to 63");
        rejects(|c| c.bucket = "My_Bucket".into(), "bucket", "lowercase");
        rejects(|c| c.bucket = "-abc".into(), "bucket", "start and end");
        rejects(|c| c.bucket = "a..b".into(), "bucket", "..");
    }

    #[test]
    fn endpoint_rules() {
        for ok in [
            "http://127.0.0.1:9000",
            "https://s3.example.com",
            "http://[::1]:9000/",
            "http://minio",
        ] {
            let mut c = valid();
            c.endpoint = Some(ok.into());
            c.validate("x").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        rejects(
            |c| c.endpoint = Some("ftp://x".into()),
            "endpoint",
            "http://",
        );
        rejects(
            |c| c.endpoint = Some("127.0.0.1:9000".into()),
            "endpoint",
            "http://",
        );
        rejects(
            |c| c.endpoint = Some("http://".into()),
            "endpoint",
            "no host",
        );
        rejects(
            |c| c.endpoint = Some("http://h:99999".into()),
            "endpoint",
            "port",
        );
        rejects(
            |c| c.endpoint = Some("http://u:p@h".into()),
            "endpoint",
            "credentials",
        );
        rejects(
            |c| c.endpoint = Some("http://h/a b".into()),
            "endpoint",
            "plain URL",
        );
    }

    #[test]
    fn number_and_credential_rules() {
        rejects(|c| c.path_style = false, "path_style", "path-style");
        rejects(|c| c.region = " ".into(), "region", "empty");
        rejects(
            |c| c.access_key_id = Some("k".into()),
            "access_key_id",
            "both",
        );
        rejects(
            |c| c.multipart_threshold_bytes = MIB,
            "multipart_threshold_bytes",
            "outside",
        );
        rejects(|c| c.list_page_keys = 0, "list_page_keys", "outside");
        rejects(|c| c.list_page_keys = 1001, "list_page_keys", "outside");
        rejects(|c| c.retries_max = 21, "retries_max", "exceeds");
        rejects(
            |c| c.retry_base_delay_ms = 0,
            "retry_base_delay_ms",
            "outside",
        );
        rejects(
            |c| c.request_timeout_ms = 10,
            "request_timeout_ms",
            "outside",
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let mut c = valid();
        c.access_key_id = Some("AKIDEXAMPLE".into());
        c.secret_access_key = Some("very-secret-value".into());
        let text = format!("{c:?}");
        assert!(text.contains("AKIDEXAMPLE") && !text.contains("very-secret-value"));
    }
}
