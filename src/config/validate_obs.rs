//! Validation of the observability keys: `[api]`, `[metrics]` and the
//! per-module log levels. Kept apart from `validate.rs` so the service work
//! (rate limits, reload) and this one merge without touching the same lines.

use super::validate::LOG_LEVELS;
use super::{Config, ConfigError};

impl Config {
    pub(crate) fn validate_observability(&self) -> Result<(), ConfigError> {
        for (module, level) in &self.logging.modules {
            let key = format!("logging.modules.{module}");
            if module.is_empty() || module.contains(char::is_whitespace) || module.contains(',') {
                return Err(ConfigError::invalid(
                    key,
                    "a module path such as \"dittofs::nfs\" (no spaces or commas)",
                ));
            }
            if !LOG_LEVELS.contains(&level.as_str()) {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "unknown level {level:?} (expected one of: {})",
                        LOG_LEVELS.join(", ")
                    ),
                ));
            }
        }
        let nfs = self.adapters.nfs.enabled.then_some(self.adapters.nfs.port);
        let smb = self.adapters.smb.enabled.then_some(self.adapters.smb.port);
        let api = (self.api.port != 0).then_some(self.api.port);
        let metrics = (self.metrics.port != 0).then_some(self.metrics.port);
        for (key, port) in [("api.port", api), ("metrics.port", metrics)] {
            let Some(port) = port else { continue };
            if Some(port) == nfs || Some(port) == smb {
                return Err(ConfigError::invalid(
                    key,
                    format!("{port} is also a protocol adapter's port"),
                ));
            }
        }
        if api.is_some() && api == metrics && self.api.address == self.metrics.address {
            return Err(ConfigError::invalid(
                "metrics.port",
                format!("{} is also api.port", self.metrics.port),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_module_level_is_refused_with_its_key() {
        let mut c = Config::default();
        c.logging
            .modules
            .insert("dittofs::nfs".into(), "loud".into());
        let err = c.validate().unwrap_err();
        assert_eq!(err.key(), Some("logging.modules.dittofs::nfs"));
        c.logging
            .modules
            .insert("dittofs::nfs".into(), "debug".into());
        c.validate().unwrap();
    }

    #[test]
    fn ports_must_not_collide() {
        let mut c = Config::default();
        c.api.port = c.adapters.nfs.port;
        assert_eq!(c.validate().unwrap_err().key(), Some("api.port"));
        let mut c = Config::default();
        c.metrics.port = c.api.port;
        assert_eq!(c.validate().unwrap_err().key(), Some("metrics.port"));
        // 0 disables and never collides.
        let mut c = Config::default();
        c.metrics.port = 0;
        c.api.port = 0;
        c.validate().unwrap();
    }
}
