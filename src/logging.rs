//! Process-wide logging setup: `log` macros everywhere, `env_logger` behind them.
//!
//! The level comes from `[logging] level`, single modules get their own from
//! `[logging] modules`, and `RUST_LOG` (same syntax as env_logger's, e.g.
//! `info,dittofs::nfs=trace`) overrides both so an operator can turn on
//! tracing for one module without editing the file. Text is for people and
//! journald; JSON (one object per line) is for log shippers: `ts`, `level`,
//! `target`, `core` (when logged from a data core), `msg`, then any structured
//! fields of the record (access-log lines carry `conn`, `client`, `protocol`,
//! `op`, `status`, `duration_us`).
//!
//! Nothing is logged per request at the default level: the access log
//! (target `dittofs::access`) is written only when `[logging] access_log` is
//! on, and then at info.
//!
//! Logs go to stderr; stdout is left for what the commands print (the mount
//! command, `config OK`).

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use log::LevelFilter;
use serde_json::{Map, Value};

use crate::config::{LogFormat, LoggingConfig};

/// Target of access-log lines.
pub const ACCESS_TARGET: &str = "dittofs::access";

static ACCESS_LOG: AtomicBool = AtomicBool::new(false);

/// Installs the global logger. Call once, after the configuration was
/// validated; later calls (tests starting several servers) are ignored.
pub fn init(cfg: &LoggingConfig) {
    ACCESS_LOG.store(cfg.access_log, Ordering::Relaxed);
    let rust_log = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
    let mut builder = builder(cfg);
    if !rust_log && cfg.modules.is_empty() {
        // Let the logger pass everything and gate with log's global maximum,
        // so a SIGHUP reload can raise the level (runtime::reload) as well as
        // lower it; disabled levels still cost one atomic load at the call site.
        // With per-module levels the logger keeps its own filters (a module at
        // debug must not make every module debug), so a reload can only lower
        // the level below what the process started with.
        builder.filter_level(LevelFilter::Trace);
    }
    if builder.try_init().is_ok() && !rust_log {
        log::set_max_level(max_level(cfg));
    }
}

/// The most verbose level any part of `cfg` asks for: the global level, a
/// module's own level, info for the access log.
pub fn max_level(cfg: &LoggingConfig) -> LevelFilter {
    let mut max = LevelFilter::from_str(&cfg.level).unwrap_or(LevelFilter::Info);
    for level in cfg.modules.values() {
        if let Ok(level) = LevelFilter::from_str(level) {
            max = max.max(level);
        }
    }
    if cfg.access_log {
        max = max.max(LevelFilter::Info);
    }
    max
}

/// Whether access-log lines are wanted (config flag and the level allows).
pub fn access_log_enabled() -> bool {
    ACCESS_LOG.load(Ordering::Relaxed) && log::log_enabled!(target: ACCESS_TARGET, log::Level::Info)
}

/// One access-log line.
pub fn access(
    protocol: &str,
    op: &str,
    peer: std::net::SocketAddr,
    status: &str,
    elapsed: std::time::Duration,
) {
    let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let (conn, client) = (peer.to_string(), peer.ip().to_string());
    log::info!(
        target: ACCESS_TARGET,
        conn = conn.as_str(), client = client.as_str(), protocol, op, status, duration_us;
        "{client} {protocol} {op} {status} {duration_us}us"
    );
}

/// The logger `init` installs, for callers that want to adjust it further.
pub fn builder(cfg: &LoggingConfig) -> env_logger::Builder {
    let mut builder = env_logger::Builder::new();
    let level = LevelFilter::from_str(&cfg.level).unwrap_or(LevelFilter::Info);
    builder.filter_level(level);
    for (module, level) in &cfg.modules {
        if let Ok(level) = LevelFilter::from_str(level) {
            builder.filter_module(module, level);
        }
    }
    if cfg.access_log {
        // The flag asks for the lines even when the global level is warn or error.
        builder.filter_module(ACCESS_TARGET, LevelFilter::Info);
    }
    // RUST_LOG directives are added after the configured levels, so they win
    // (a global level in RUST_LOG replaces it; module directives add to it).
    builder.parse_env(env_logger::Env::default());
    match cfg.format {
        LogFormat::Text => {
            builder.format_timestamp_millis();
        }
        LogFormat::Json => {
            builder.format(|buf, record| {
                let ts = buf.timestamp_millis().to_string();
                let mut fields = Map::new();
                let _ = record.key_values().visit(&mut Fields(&mut fields));
                let line = json_line(
                    &ts,
                    record.level(),
                    record.target(),
                    current_core(),
                    record.args(),
                    fields,
                );
                writeln!(buf, "{line}")
            });
        }
    }
    builder
}

/// The data core the calling thread is (from its name `dittofs-core-N`).
fn current_core() -> Option<u32> {
    std::thread::current()
        .name()?
        .strip_prefix("dittofs-core-")?
        .parse()
        .ok()
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let v = match value.to_u64() {
            Some(n) => Value::from(n),
            None => Value::from(value.to_string()),
        };
        self.0.insert(key.as_str().to_owned(), v);
        Ok(())
    }
}

/// One JSON log line (without the newline). serde_json escapes quotes,
/// backslashes, control characters and newlines in the message, so a line is
/// always exactly one record. `fields` come after the fixed keys and cannot
/// replace them.
pub fn json_line(
    ts: &str,
    level: log::Level,
    target: &str,
    core: Option<u32>,
    msg: &std::fmt::Arguments<'_>,
    fields: Map<String, Value>,
) -> String {
    // Written key by key: serde_json's Map sorts its keys, and the fixed
    // keys come first so lines read well.
    let mut out = String::from("{");
    let mut push = |key: &str, value: &Value| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&Value::from(key).to_string());
        out.push(':');
        out.push_str(&value.to_string());
    };
    push("ts", &Value::from(ts));
    push("level", &Value::from(level.as_str()));
    push("target", &Value::from(target));
    if let Some(core) = core {
        push("core", &Value::from(core));
    }
    push("msg", &Value::from(msg.to_string()));
    for (k, v) in &fields {
        if !matches!(k.as_str(), "ts" | "level" | "target" | "core" | "msg") {
            push(k, v);
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_the_four_fields_in_order() {
        let line = json_line(
            "2026-01-02T03:04:05.678Z",
            log::Level::Warn,
            "dittofs::nfs",
            None,
            &format_args!("slow reply"),
            Map::new(),
        );
        assert_eq!(
            line,
            r#"{"ts":"2026-01-02T03:04:05.678Z","level":"WARN","target":"dittofs::nfs","msg":"slow reply"}"#
        );
    }

    #[test]
    fn json_line_escapes_the_message() {
        let line = json_line(
            "t",
            log::Level::Info,
            "x",
            None,
            &format_args!("a \"quoted\"\nline\twith \\ and \u{1}"),
            Map::new(),
        );
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["msg"], "a \"quoted\"\nline\twith \\ and \u{1}");
        assert_eq!(value["level"], "INFO");
    }

    #[test]
    fn builder_accepts_every_valid_level() {
        for level in crate::config::validate::LOG_LEVELS {
            for format in [LogFormat::Text, LogFormat::Json] {
                let cfg = LoggingConfig {
                    level: level.to_owned(),
                    format,
                    modules: [("dittofs::nfs".to_owned(), "trace".to_owned())].into(),
                    access_log: true,
                };
                // Building must not panic; the logger is not installed.
                let _ = builder(&cfg).build();
            }
        }
    }

    #[test]
    fn json_line_carries_core_and_fields_after_the_fixed_keys() {
        let mut fields = Map::new();
        fields.insert("op".into(), "WRITE".into());
        fields.insert("duration_us".into(), 42u64.into());
        fields.insert("level".into(), "spoofed".into());
        let line = json_line(
            "t",
            log::Level::Info,
            ACCESS_TARGET,
            Some(3),
            &format_args!("hello"),
            fields,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["core"], 3);
        assert_eq!(v["op"], "WRITE");
        assert_eq!(v["duration_us"], 42);
        assert_eq!(v["level"], "INFO");
        assert!(line.starts_with(
            r#"{"ts":"t","level":"INFO","target":"dittofs::access","core":3,"msg":"hello""#
        ));
    }

    #[test]
    fn kv_fields_are_collected() {
        let mut map = Map::new();
        let kvs: &[(&str, log::kv::Value)] =
            &[("client", "10.0.0.1".into()), ("duration_us", 7u64.into())];
        log::kv::Source::visit(&kvs, &mut Fields(&mut map)).unwrap();
        assert_eq!(map["client"], "10.0.0.1");
        assert_eq!(map["duration_us"], 7);
    }
}
