//! `dittofs-perf`: run a workload, compare two servers, or measure the machine's limits.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dittofs_perf::compare::{compare, compare_table};
use dittofs_perf::config::{parse_duration, parse_size, RunConfig, StableMode, Target, Workload};
use dittofs_perf::report::{error_banner, run_table};
use dittofs_perf::smb::{SmbDialect, SmbOptions};

#[derive(Parser)]
#[command(
    name = "dittofs-perf",
    version,
    about = "NFSv3 and SMB2/3 benchmark harness for dittofs (works against any NFSv3 or SMB server)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one workload against one server.
    Run {
        /// nfs://HOST[:PORT]/EXPORT, or smb://HOST[:PORT][/SHARE] with --protocol smb
        #[arg(long)]
        target: String,
        /// MOUNT port (default: the NFS port, as dittofs serves MOUNT there).
        #[arg(long)]
        mount_port: Option<u16>,
        #[command(flatten)]
        opts: RunOpts,
    },
    /// Run A and B alternately (A B A B …) and report medians and B/A ratios.
    Compare {
        #[arg(long)]
        a: String,
        #[arg(long)]
        a_mount_port: Option<u16>,
        #[arg(long)]
        b: String,
        #[arg(long)]
        b_mount_port: Option<u16>,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[command(flatten)]
        opts: RunOpts,
    },
    /// Measure loopback TCP and the disk of DIR (O_DIRECT).
    Limits {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct RunOpts {
    /// seq-write, seq-read, rand-write, rand-read, create, stat, readdir, delete, build-farm
    #[arg(long)]
    workload: String,
    /// Length of the timed phase, e.g. 10s (default 10s unless --ops is given).
    #[arg(long)]
    duration: Option<String>,
    /// Number of ops of the timed phase, over all connections.
    #[arg(long)]
    ops: Option<u64>,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 8)]
    depth: usize,
    /// Executor threads; connections are spread over them.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 0)]
    uid: u32,
    #[arg(long, default_value_t = 0)]
    gid: u32,
    /// Per-stream file size of seq-*/rand-* (e.g. 256M).
    #[arg(long, default_value = "256M")]
    file_size: String,
    /// unstable, commit (UNSTABLE + COMMIT) or file-sync.
    #[arg(long, default_value = "unstable")]
    stable: String,
    /// Entries of the readdir workload's directory.
    #[arg(long, default_value_t = 10_000)]
    dir_entries: usize,
    /// Prepared files of stat and delete.
    #[arg(long, default_value_t = 10_000)]
    files: usize,
    /// build-farm: source files and directories.
    #[arg(long, default_value_t = 4_000)]
    bf_files: usize,
    #[arg(long, default_value_t = 200)]
    bf_dirs: usize,
    /// Check every byte read against the written pattern.
    #[arg(long)]
    verify: bool,
    /// Progress line on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// nfs or smb (SMB2/3 with NTLMv2; build-farm is NFS only).
    #[arg(long, default_value = "nfs")]
    protocol: String,
    /// SMB user name.
    #[arg(long, default_value = "")]
    smb_user: String,
    /// SMB password.
    #[arg(long, default_value = "")]
    smb_pass: String,
    /// SMB (NTLM) domain.
    #[arg(long, default_value = "")]
    smb_domain: String,
    /// SMB share (overrides the share of the smb:// URL).
    #[arg(long)]
    share: Option<String>,
    /// SMB dialect: 3.1.1, 3.0.2 or 2.1.
    #[arg(long, default_value = "3.1.1")]
    smb_dialect: String,
    /// Sign every SMB request (and tell the server signing is required).
    #[arg(long)]
    smb_sign: bool,
}

impl RunOpts {
    fn target(&self, url: &str, mount_port: Option<u16>) -> anyhow::Result<Target> {
        match self.protocol.as_str() {
            "nfs" => Ok(Target::parse(url, mount_port)?),
            "smb" => Ok(Target::parse_smb(url)?),
            p => anyhow::bail!("unknown --protocol {p:?} (nfs or smb)"),
        }
    }

    fn smb(&self, target: &Target) -> anyhow::Result<Option<SmbOptions>> {
        if self.protocol != "smb" {
            return Ok(None);
        }
        let share = self.share.clone().unwrap_or_else(|| target.export.clone());
        anyhow::ensure!(
            !share.is_empty(),
            "SMB needs a share: --share NAME or smb://HOST/SHARE"
        );
        let dialect = SmbDialect::parse(&self.smb_dialect)
            .with_context(|| format!("unknown --smb-dialect {:?}", self.smb_dialect))?;
        Ok(Some(SmbOptions {
            user: self.smb_user.clone(),
            password: self.smb_pass.clone(),
            domain: self.smb_domain.clone(),
            share,
            dialect,
            sign: self.smb_sign,
        }))
    }

    fn config(&self, target: Target) -> anyhow::Result<RunConfig> {
        let smb = self.smb(&target)?;
        let mut c = RunConfig::new(target, Workload::parse(&self.workload)?);
        c.smb = smb;
        c.duration = self.duration.as_deref().map(parse_duration).transpose()?;
        c.ops = self.ops;
        c.connections = self.connections.max(1);
        c.depth = self.depth.max(1);
        c.threads = self.threads.max(1);
        c.uid = self.uid;
        c.gid = self.gid;
        c.file_size_bytes = parse_size(&self.file_size)?;
        c.stable = StableMode::parse(&self.stable)?;
        c.dir_entries = self.dir_entries;
        c.files = self.files;
        c.bf_files = self.bf_files;
        c.bf_dirs = self.bf_dirs;
        c.verify = self.verify;
        c.progress = self.progress || std::io::stderr().is_terminal();
        Ok(c)
    }
}

fn write_json(path: &Option<PathBuf>, v: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(p) = path {
        let s = serde_json::to_string_pretty(v)?;
        std::fs::write(p, s).with_context(|| format!("write {}", p.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dittofs-perf: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            target,
            mount_port,
            opts,
        } => {
            let cfg = opts.config(opts.target(&target, mount_port)?)?;
            let r = dittofs_perf::run(&cfg)?;
            print!("{}", run_table(&r));
            write_json(&opts.json, &r)?;
            Ok(if r.error_count() > 0 {
                eprint!("{}", error_banner(&r));
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Compare {
            a,
            a_mount_port,
            b,
            b_mount_port,
            rounds,
            opts,
        } => {
            let ta = opts.target(&a, a_mount_port)?;
            let tb = opts.target(&b, b_mount_port)?;
            let cfg = opts.config(ta.clone())?;
            let c = compare(&cfg, ta, tb, rounds, |label, r| {
                let p: Vec<String> = r
                    .phases
                    .iter()
                    .map(|p| format!("{} {:.0} ops/s {:.1} MB/s", p.name, p.ops_per_s, p.mb_per_s))
                    .collect();
                eprintln!("  {label} {}: {}", r.target, p.join(", "));
                eprint!("{}", error_banner(r));
            })?;
            print!("{}", compare_table(&c));
            write_json(&opts.json, &c)?;
            Ok(if c.error_count() > 0 {
                eprintln!(
                    "!!! {} ERRORS during the comparison (see above)",
                    c.error_count()
                );
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Limits { dir, json } => {
            let l = dittofs_perf::limits::measure(&dir)?;
            print!("{}", dittofs_perf::limits::limits_table(&l));
            write_json(&json, &l)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
