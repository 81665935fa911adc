//! The `dittofs` command line, and nothing else.
//!
//! It parses arguments, turns configuration files and flags into a validated
//! [`Config`], sets up logging and hands over to [`dittofs::runtime::run`].
//! Everything with behaviour worth testing lives in the library so tests and
//! the perf harness share it. Exit status: 0 success, 1 the server failed,
//! 2 bad configuration or usage (clap's own usage errors also exit 2).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::{Args, Parser, Subcommand};
use dittofs::config::{self, Config, ConfigError, ConfigSource, Overrides};

mod cli;

/// Userspace NFSv3 and SMB2/3 file server, thread-per-core on io_uring.
#[derive(Debug, Parser)]
#[command(name = "dittofs", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented configuration file listing every key with its default.
    Init(InitArgs),
    /// Run the server in the foreground until SIGTERM or SIGINT.
    ///
    /// Without --config, reads the default path if a file is there and otherwise
    /// starts on the embedded default: one share /export on an LMDB metadata store
    /// and a filesystem block store under the data directory (persistent).
    /// SIGHUP re-reads the file and applies logging.level, the rate limits and
    /// each share's default_permission, read_only and allowed_clients live
    /// (the log says what else needs a restart). Under systemd
    /// (Type=notify) it reports READY=1 once listening and WAL recovery are
    /// done, STOPPING=1, and WATCHDOG=1 while every core is responsive.
    Start(StartArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Database maintenance of PostgreSQL metadata stores.
    #[command(subcommand)]
    Db(DbCommand),
    /// Administration of the REST admin API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage users: passwords (NFS/SMB/API), groups and share grants.
    ///
    /// Works on the identity store of the configuration while the server is
    /// stopped, or through a running server's REST API with --server URL (or
    /// $DITTOFS_API).
    #[command(subcommand)]
    User(cli::identity::UserCommand),
    /// Manage groups and their share grants (same targets as `user`).
    #[command(subcommand)]
    Group(cli::identity::GroupCommand),
    /// Manage shares ([[shares]] of the configuration file).
    ///
    /// Edits the file (comments kept, validated before writing) while the
    /// server is stopped, or goes through a running server's REST API with
    /// --server URL: `update` (default_permission, read_only,
    /// allowed_clients) applies at once, `add`/`remove` are saved and take
    /// effect at the next restart.
    #[command(subcommand)]
    Share(cli::share::ShareCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Bearer tokens for the admin API's mutating endpoints.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token: prints it once and stores only its SHA-256 in
    /// <data_dir>/admin-tokens (mode 0600). Use it as `Authorization: Bearer TOKEN`;
    /// delete its line from the file to revoke it.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
struct TokenCreateArgs {
    #[arg(long, short = 'c', value_name = "PATH", help = CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Data directory holding admin-tokens (overrides `data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A label stored next to the hash and shown in the log when the token is used.
    #[arg(long, default_value = "admin")]
    name: String,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply pending schema migrations to every postgres metadata store of the
    /// configuration (or only --store NAME); prints the versions applied.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[arg(long, short = 'c', value_name = "PATH", help = CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Only this [metadata_stores.NAME] (must be type = "postgres").
    #[arg(long, value_name = "NAME")]
    store: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Parse and validate a configuration file; prints "config OK: PATH".
    Check(CheckArgs),
}

pub(crate) const CONFIG_HELP: &str = "Configuration file [default: ~/.config/dittofs/config.toml, \
                           or /etc/dittofs/config.toml under systemd]";

#[derive(Debug, Args)]
struct InitArgs {
    #[arg(long, short = 'c', value_name = "PATH", help = CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Overwrite the file if it already exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[arg(long, short = 'c', value_name = "PATH", help = CONFIG_HELP)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct StartArgs {
    #[arg(long, short = 'c', value_name = "PATH", help = CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Directory for persistent stores and the WAL (overrides `data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// IP address every listener binds to, e.g. 127.0.0.1 or :: (overrides `listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<IpAddr>,
    /// TCP port for NFS, MOUNT and portmap (overrides `adapters.nfs.port`).
    #[arg(long, value_name = "N")]
    nfs_port: Option<u16>,
    /// TCP port for SMB, used when SMB is enabled (overrides `adapters.smb.port`).
    #[arg(long, value_name = "N")]
    smb_port: Option<u16>,
    /// Executor threads, one per core; 0 = one per CPU (overrides `cores`).
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// TCP port of the REST admin API, 0 disables it (overrides `api.port`).
    #[arg(long, value_name = "N")]
    api_port: Option<u16>,
    /// TCP port of the Prometheus /metrics endpoint, 0 disables it
    /// (overrides `metrics.port`).
    #[arg(long, value_name = "N")]
    metrics_port: Option<u16>,
}

impl StartArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            listen: self.listen,
            nfs_port: self.nfs_port,
            smb_port: self.smb_port,
            cores: self.cores,
            api_port: self.api_port,
            metrics_port: self.metrics_port,
        }
    }
}

/// Why a command failed; decides the exit status.
enum Failure {
    /// Bad configuration or usage: exit 2.
    Usage(anyhow::Error),
    /// The server or the system failed: exit 1.
    Runtime(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure::Usage(e.into())
    }
}

impl From<cli::CliFailure> for Failure {
    fn from(e: cli::CliFailure) -> Failure {
        match e {
            cli::CliFailure::Usage(e) => Failure::Usage(e),
            cli::CliFailure::Runtime(e) => Failure::Runtime(e),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(args) => init(&args),
        Command::Start(args) => start(&args),
        Command::Config(ConfigCommand::Check(args)) => check(&args),
        Command::Db(DbCommand::Migrate(args)) => db_migrate(&args),
        Command::Admin(AdminCommand::Token(TokenCommand::Create(args))) => token_create(&args),
        Command::User(cmd) => cli::identity::user(cmd).map_err(Failure::from),
        Command::Group(cmd) => cli::identity::group(cmd).map_err(Failure::from),
        Command::Share(cmd) => cli::share::share(cmd).map_err(Failure::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            // Usage and configuration messages are complete on their own
            // (ConfigError::Read already shows the OS error).
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `dittofs init`: writes the embedded example, refusing to replace a file
/// unless `--force` (the file is created with O_EXCL, so two racing `init`s
/// cannot both win).
fn init(args: &InitArgs) -> Result<(), Failure> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(config::default_config_path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))
            .map_err(Failure::Runtime)?;
    }
    let mut options = OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(Failure::Usage(anyhow!(
                "{}: already exists; not overwriting it (use --force to replace it)",
                path.display()
            )));
        }
        Err(e) => {
            return Err(Failure::Runtime(
                anyhow::Error::new(e).context(format!("creating {}", path.display())),
            ))
        }
    };
    file.write_all(config::EXAMPLE_TOML.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
        .map_err(Failure::Runtime)?;
    println!("wrote {}", path.display());
    println!(
        "check it with:  dittofs config check --config {}",
        path.display()
    );
    println!("start with:     dittofs start --config {}", path.display());
    Ok(())
}

/// `dittofs db migrate`: applies pending migrations to postgres stores.
fn db_migrate(args: &MigrateArgs) -> Result<(), Failure> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(config::default_config_path);
    let config = Config::load(&path)?;
    config.validate().map_err(|e| e.in_file(&path))?;
    let mut done = 0;
    for (name, store) in &config.metadata_stores {
        if args.store.as_ref().is_some_and(|s| s != name) {
            continue;
        }
        let Some(opts) = dittofs::meta::postgres::PgOptions::from_config(store) else {
            if args.store.is_some() {
                return Err(Failure::Usage(anyhow!(
                    "metadata store {name:?} is not a postgres store"
                )));
            }
            continue;
        };
        let applied = dittofs::meta::postgres::migrate(&opts)
            .with_context(|| format!("metadata store {name}"))
            .map_err(Failure::Runtime)?;
        let version = dittofs::meta::postgres::schema::latest_version();
        if applied.is_empty() {
            println!("{name}: schema up to date (version {version})");
        } else {
            println!("{name}: applied migrations {applied:?}; schema at version {version}");
        }
        done += 1;
    }
    if done == 0 {
        return Err(Failure::Usage(anyhow!(match &args.store {
            Some(s) => format!("no metadata store named {s:?} in {}", path.display()),
            None => format!("no postgres metadata store in {}", path.display()),
        })));
    }
    Ok(())
}

/// `dittofs admin token create`: prints a new admin API token once.
fn token_create(args: &TokenCreateArgs) -> Result<(), Failure> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            let path = config::default_config_path();
            if path.exists() {
                Config::load(&path)?
            } else {
                Config::default()
            }
        }
    };
    if let Some(dir) = &args.data_dir {
        config.data_dir = Some(dir.clone());
    }
    let dir = config.effective_data_dir();
    let token = dittofs::api::auth::create_token(&dir, &args.name)
        .map_err(|e| Failure::Runtime(e.into()))?;
    println!("{token}");
    eprintln!(
        "stored its SHA-256 in {}; this is the only time the token is shown",
        dir.join(dittofs::api::auth::TOKENS_FILE).display()
    );
    Ok(())
}

/// `dittofs config check`: load + validate, no overrides.
fn check(args: &CheckArgs) -> Result<(), Failure> {
    let path = match &args.config {
        Some(path) => path.clone(),
        None => {
            let path = config::default_config_path();
            if !path.exists() {
                return Err(Failure::Usage(anyhow!(
                    "{}: no configuration file (create one with `dittofs init`, \
                     or pass --config PATH)",
                    path.display()
                )));
            }
            path
        }
    };
    let config = Config::load(&path)?;
    config.validate().map_err(|e| e.in_file(&path))?;
    println!("config OK: {}", path.display());
    Ok(())
}

/// `dittofs start`: resolve the configuration, apply flags, validate, log, run.
fn start(args: &StartArgs) -> Result<(), Failure> {
    let (mut config, origin) = match &args.config {
        // An explicit path must exist.
        Some(path) => (Config::load(path)?, ConfigSource::File(path.clone())),
        None => {
            let path = config::default_config_path();
            if path.exists() {
                (Config::load(&path)?, ConfigSource::File(path))
            } else {
                (Config::default(), ConfigSource::Embedded)
            }
        }
    };
    let overridden = args.overrides().apply(&mut config);
    config.validate().map_err(|e| {
        let e = name_flag(e, &overridden);
        e.in_source(origin.clone())
    })?;

    dittofs::logging::init(&config.logging);
    log::info!("dittofs {} starting", env!("CARGO_PKG_VERSION"));
    match &origin {
        ConfigSource::File(path) => log::info!("configuration: {}", path.display()),
        ConfigSource::Embedded => log::info!(
            "no configuration file at {}; starting on the embedded default \
             (one share /export on LMDB + filesystem blocks under {}; \
             `dittofs init` writes a file to edit)",
            config::default_config_path().display(),
            config.effective_data_dir().display()
        ),
    }
    for (key, flag) in &overridden {
        log::info!("{key} set by {flag}");
    }
    log::info!("{} cores", config.effective_cores());

    let reload = dittofs::runtime::ReloadSource {
        path: match &origin {
            ConfigSource::File(path) => Some(path.clone()),
            ConfigSource::Embedded => None,
        },
        overrides: args.overrides(),
    };
    dittofs::runtime::run_with_reload(&config, reload).map_err(|e| Failure::Runtime(anyhow!("{e}")))
}

/// Marks a validation error on a key that a flag set: `adapters.nfs.port (--nfs-port)`.
fn name_flag(e: ConfigError, overridden: &[(&str, &str)]) -> ConfigError {
    match e {
        ConfigError::Invalid {
            origin,
            key,
            message,
        } => {
            let key = match overridden.iter().find(|(k, _)| *k == key) {
                Some((_, flag)) => format!("{key} (set by {flag})"),
                None => key,
            };
            ConfigError::Invalid {
                origin,
                key,
                message,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::Path;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_has_help() {
        fn walk(cmd: &clap::Command) {
            assert!(cmd.get_about().is_some(), "{} has no help", cmd.get_name());
            for arg in cmd.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{} {} has no help",
                    cmd.get_name(),
                    arg.get_id()
                );
            }
            for sub in cmd.get_subcommands() {
                walk(sub);
            }
        }
        walk(&Cli::command());
    }

    #[test]
    fn start_flags_become_overrides() {
        let cli = Cli::try_parse_from([
            "dittofs",
            "start",
            "--listen",
            "::1",
            "--nfs-port",
            "2049",
            "--smb-port",
            "445",
            "--cores",
            "2",
            "--data-dir",
            "/tmp/d",
            "--api-port",
            "0",
            "--metrics-port",
            "19090",
        ])
        .unwrap();
        let Command::Start(args) = cli.command else {
            panic!("not start");
        };
        assert_eq!(
            args.overrides(),
            Overrides {
                data_dir: Some("/tmp/d".into()),
                listen: Some("::1".parse().unwrap()),
                nfs_port: Some(2049),
                smb_port: Some(445),
                cores: Some(2),
                api_port: Some(0),
                metrics_port: Some(19090),
            }
        );
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        assert!(Cli::try_parse_from(["dittofs", "start", "--nfs-port", "70000"]).is_err());
        assert!(Cli::try_parse_from(["dittofs", "start", "--listen", "host"]).is_err());
    }

    #[test]
    fn flag_is_named_in_validation_errors() {
        let mut config = Config::default();
        let overridden = Overrides {
            nfs_port: Some(0),
            ..Overrides::default()
        }
        .apply(&mut config);
        let e = name_flag(config.validate().unwrap_err(), &overridden)
            .in_file(Path::new("/etc/dittofs/config.toml"));
        assert_eq!(
            e.to_string(),
            "/etc/dittofs/config.toml: adapters.nfs.port (set by --nfs-port): must not be 0"
        );
    }
}
