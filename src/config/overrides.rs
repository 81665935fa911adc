//! Command-line overrides of configuration keys.
//!
//! `dittofs start --nfs-port 2049` must behave exactly as if the file said so,
//! including validation, so the flags are applied to the loaded [`Config`]
//! before [`Config::validate`] runs. Kept free of clap so it can be unit tested
//! and reused by tests that start the runtime.

use std::net::IpAddr;
use std::path::PathBuf;

use super::Config;

/// Values given on the command line; `None` leaves the file's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--data-dir` → `data_dir`
    pub data_dir: Option<PathBuf>,
    /// `--listen` → `listen`
    pub listen: Option<IpAddr>,
    /// `--nfs-port` → `adapters.nfs.port`
    pub nfs_port: Option<u16>,
    /// `--smb-port` → `adapters.smb.port`
    pub smb_port: Option<u16>,
    /// `--cores` → `cores`
    pub cores: Option<usize>,
    /// `--api-port` → `api.port`
    pub api_port: Option<u16>,
    /// `--metrics-port` → `metrics.port`
    pub metrics_port: Option<u16>,
}

impl Overrides {
    /// Writes every given value into `config`; returns the key paths it set,
    /// so a later validation error can say the value came from a flag.
    pub fn apply(&self, config: &mut Config) -> Vec<(&'static str, &'static str)> {
        let mut set = Vec::new();
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
            set.push(("data_dir", "--data-dir"));
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
            set.push(("listen", "--listen"));
        }
        if let Some(port) = self.nfs_port {
            config.adapters.nfs.port = port;
            set.push(("adapters.nfs.port", "--nfs-port"));
        }
        if let Some(port) = self.smb_port {
            config.adapters.smb.port = port;
            set.push(("adapters.smb.port", "--smb-port"));
        }
        if let Some(cores) = self.cores {
            config.cores = cores;
            set.push(("cores", "--cores"));
        }
        if let Some(port) = self.api_port {
            config.api.port = port;
            set.push(("api.port", "--api-port"));
        }
        if let Some(port) = self.metrics_port {
            config.metrics.port = port;
            set.push(("metrics.port", "--metrics-port"));
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_overrides_change_nothing() {
        let mut config = Config::default();
        assert!(Overrides::default().apply(&mut config).is_empty());
        assert_eq!(config, Config::default());
    }

    #[test]
    fn every_override_lands_on_its_key() {
        let mut config = Config::default();
        let overrides = Overrides {
            data_dir: Some("/srv/ditto".into()),
            listen: Some("127.0.0.1".parse().unwrap()),
            nfs_port: Some(2049),
            smb_port: Some(445),
            cores: Some(3),
            api_port: Some(18080),
            metrics_port: Some(0),
        };
        let set = overrides.apply(&mut config);
        assert_eq!(config.data_dir, Some(PathBuf::from("/srv/ditto")));
        assert_eq!(config.listen, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(config.adapters.nfs.port, 2049);
        assert_eq!(config.adapters.smb.port, 445);
        assert_eq!(config.cores, 3);
        assert_eq!(config.api.port, 18080);
        assert_eq!(config.metrics.port, 0);
        assert_eq!(set.len(), 7);
        assert!(set.contains(&("adapters.nfs.port", "--nfs-port")));
        // Nothing else moved.
        let mut expected = Config {
            data_dir: config.data_dir.clone(),
            listen: config.listen,
            cores: 3,
            ..Config::default()
        };
        expected.adapters.nfs.port = 2049;
        expected.adapters.smb.port = 445;
        expected.api.port = 18080;
        expected.metrics.port = 0;
        assert_eq!(config, expected);
    }

    #[test]
    fn overrides_beat_the_file() {
        let text = "cores = 8\n[adapters.nfs]\nport = 3000\n";
        let mut config = Config::from_toml_str(text, "t.toml".as_ref()).unwrap();
        Overrides {
            nfs_port: Some(4000),
            ..Overrides::default()
        }
        .apply(&mut config);
        assert_eq!(config.adapters.nfs.port, 4000);
        assert_eq!(config.cores, 8);
    }

    #[test]
    fn overrides_are_validated_like_the_file() {
        let mut config = Config::default();
        Overrides {
            nfs_port: Some(0),
            ..Overrides::default()
        }
        .apply(&mut config);
        let err = config.validate().unwrap_err();
        assert_eq!(err.key(), Some("adapters.nfs.port"));

        let mut config = Config::default();
        Overrides {
            cores: Some(5000),
            ..Overrides::default()
        }
        .apply(&mut config);
        assert_eq!(config.validate().unwrap_err().key(), Some("cores"));
    }
}
