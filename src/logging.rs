//! Process-wide logging setup: `log` macros everywhere, `env_logger` behind them.
//!
//! The level comes from `[logging] level`, and `RUST_LOG` (same syntax as
//! env_logger's, e.g. `info,dittofs::nfs=trace`) overrides it so an operator
//! can turn on tracing for one module without editing the file. Text is for
//! people and journald; JSON (one object per line) is for log shippers, so its
//! field set is fixed: `ts`, `level`, `target`, `msg`.
//!
//! Logs go to stderr; stdout is left for what the commands print (the mount
//! command, `config OK`).

use std::io::Write;
use std::str::FromStr;

use log::LevelFilter;
use serde::Serialize;

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global logger. Call once, after the configuration was
/// validated; later calls (tests starting several servers) are ignored.
pub fn init(cfg: &LoggingConfig) {
    let rust_log = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
    let mut builder = builder(cfg);
    if !rust_log {
        // Let the logger pass everything and gate with log's global maximum,
        // so a SIGHUP reload can raise the level (runtime::reload) as well as
        // lower it; disabled levels still cost one atomic load at the call site.
        builder.filter_level(LevelFilter::Trace);
    }
    if builder.try_init().is_ok() && !rust_log {
        log::set_max_level(LevelFilter::from_str(&cfg.level).unwrap_or(LevelFilter::Info));
    }
}

/// The logger `init` installs, for callers that want to adjust it further.
pub fn builder(cfg: &LoggingConfig) -> env_logger::Builder {
    let mut builder = env_logger::Builder::new();
    let level = LevelFilter::from_str(&cfg.level).unwrap_or(LevelFilter::Info);
    builder.filter_level(level);
    // RUST_LOG directives are added after the configured level, so they win
    // (a global level in RUST_LOG replaces it; module directives add to it).
    builder.parse_env(env_logger::Env::default());
    match cfg.format {
        LogFormat::Text => {
            builder.format_timestamp_millis();
        }
        LogFormat::Json => {
            builder.format(|buf, record| {
                let ts = buf.timestamp_millis().to_string();
                let line = json_line(&ts, record.level(), record.target(), record.args());
                writeln!(buf, "{line}")
            });
        }
    }
    builder
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    ts: &'a str,
    level: &'a str,
    target: &'a str,
    msg: String,
}

/// One JSON log line (without the newline). serde_json escapes quotes,
/// backslashes, control characters and newlines in the message, so a line is
/// always exactly one record.
pub fn json_line(
    ts: &str,
    level: log::Level,
    target: &str,
    msg: &std::fmt::Arguments<'_>,
) -> String {
    let record = JsonRecord {
        ts,
        level: level.as_str(),
        target,
        msg: msg.to_string(),
    };
    serde_json::to_string(&record).unwrap_or_else(|_| String::from("{}"))
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
            &format_args!("slow reply"),
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
            &format_args!("a \"quoted\"\nline\twith \\ and \u{1}"),
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
                };
                // Building must not panic; the logger is not installed.
                let _ = builder(&cfg).build();
            }
        }
    }
}
