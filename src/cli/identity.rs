//! `dittofs user …` and `dittofs group …`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use dittofs::config::{self, Config, SharePermission};
use dittofs::identity::api::{self, Operation, Outcome};
use dittofs::identity::api_types::{GrantView, NewGroupRequest, NewUserRequest};
use dittofs::identity::{parse_permission, permission_name, store, Admin};

use super::{remote, CliFailure};

/// Where an identity command runs: the store of a stopped server, or a
/// running server's API.
#[derive(Debug, Args)]
pub struct Target {
    #[arg(long, short = 'c', value_name = "PATH", help = crate::CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Send the command to a running server's REST API instead of opening the
    /// store, e.g. http://127.0.0.1:8080 [env: DITTOFS_API]
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Bearer token for --server [env: DITTOFS_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prompts twice for the password on a terminal.
    Add {
        #[command(flatten)]
        target: Target,
        /// User name: a-z, 0-9, '_', '.', '-', starting with a letter or '_', ≤ 32.
        name: String,
        /// uid (default: the lowest free one in [identity] uid_min..=uid_max).
        #[arg(long, value_name = "N")]
        uid: Option<u32>,
        /// Primary gid (default: the same number as the uid).
        #[arg(long, value_name = "N")]
        gid: Option<u32>,
        /// Supplementary groups (existing group names), comma-separated.
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        groups: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's password (both the bcrypt and the NT hash).
    Passwd {
        #[command(flatten)]
        target: Target,
        /// User name.
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user.
    Remove {
        #[command(flatten)]
        target: Target,
        /// User name.
        name: String,
    },
    /// List users (never shows password hashes).
    List {
        #[command(flatten)]
        target: Target,
        /// Print JSON (an array of users) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Give a user a permission on a share (replaces an earlier grant).
    Grant {
        #[command(flatten)]
        target: Target,
        /// User name.
        name: String,
        /// Share name, with or without the leading '/'.
        share: String,
        /// none, read, read-write or admin.
        permission: String,
    },
    /// Remove a user's grant on a share (the groups' grants or the share
    /// default apply again).
    Revoke {
        #[command(flatten)]
        target: Target,
        /// User name.
        name: String,
        /// Share name.
        share: String,
    },
    /// Add a user to a supplementary group.
    Join {
        #[command(flatten)]
        target: Target,
        /// User name.
        name: String,
        /// Group name.
        group: String,
    },
    /// Remove a user from a supplementary group.
    Leave {
        #[command(flatten)]
        target: Target,
        /// User name.
        name: String,
        /// Group name.
        group: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add {
        #[command(flatten)]
        target: Target,
        /// Group name (same rules as user names).
        name: String,
        /// gid (default: the lowest free one in [identity] gid_min..=gid_max).
        #[arg(long, value_name = "N")]
        gid: Option<u32>,
    },
    /// Delete a group (refused while it is a user's primary group).
    Remove {
        #[command(flatten)]
        target: Target,
        /// Group name.
        name: String,
    },
    /// List groups with their members.
    List {
        #[command(flatten)]
        target: Target,
        /// Print JSON (an array of groups) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Give a group a permission on a share (replaces an earlier grant).
    Grant {
        #[command(flatten)]
        target: Target,
        /// Group name.
        group: String,
        /// Share name, with or without the leading '/'.
        share: String,
        /// none, read, read-write or admin.
        permission: String,
    },
    /// Remove a group's grant on a share.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// Group name.
        group: String,
        /// Share name.
        share: String,
    },
}

fn usage(e: impl Into<anyhow::Error>) -> CliFailure {
    CliFailure::Usage(e.into())
}

fn perm(s: &str) -> Result<SharePermission, CliFailure> {
    parse_permission(s).map_err(usage)
}

/// Reads the password: one line of stdin, or twice from the terminal.
fn read_password(from_stdin: bool) -> Result<String, CliFailure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")
            .map_err(CliFailure::Runtime)?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        return Ok(password.to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(anyhow!(
            "no terminal to prompt for the password; pass it with --password-stdin"
        )));
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| usage(anyhow!("cannot prompt for the password: {e}")))?;
    let second = rpassword::prompt_password("Password (again): ")
        .map_err(|e| usage(anyhow!("cannot prompt for the password: {e}")))?;
    if first != second {
        return Err(usage(anyhow!("the passwords do not match")));
    }
    Ok(first)
}

/// `dittofs user …`
pub fn user(cmd: UserCommand) -> Result<(), CliFailure> {
    let (target, op, json) = match cmd {
        UserCommand::Add {
            target,
            name,
            uid,
            gid,
            groups,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let groups = groups.into_iter().filter(|g| !g.is_empty()).collect();
            let op = Operation::AddUser(NewUserRequest {
                name,
                password,
                uid,
                gid,
                groups,
            });
            (target, op, false)
        }
        UserCommand::Passwd {
            target,
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let op = Operation::SetPassword {
                user: name,
                password,
            };
            (target, op, false)
        }
        UserCommand::Remove { target, name } => (target, Operation::RemoveUser(name), false),
        UserCommand::List { target, json } => (target, Operation::ListUsers, json),
        UserCommand::Grant {
            target,
            name,
            share,
            permission,
        } => {
            let op = Operation::Grant {
                user: name,
                share,
                permission: perm(&permission)?,
            };
            (target, op, false)
        }
        UserCommand::Revoke {
            target,
            name,
            share,
        } => (target, Operation::Revoke { user: name, share }, false),
        UserCommand::Join {
            target,
            name,
            group,
        } => (target, Operation::Join { user: name, group }, false),
        UserCommand::Leave {
            target,
            name,
            group,
        } => (target, Operation::Leave { user: name, group }, false),
    };
    let done = describe(&op);
    let outcome = run(&target, &op)?;
    print(&outcome, json, &done)
}

/// `dittofs group …`
pub fn group(cmd: GroupCommand) -> Result<(), CliFailure> {
    let (target, op, json) = match cmd {
        GroupCommand::Add { target, name, gid } => (
            target,
            Operation::AddGroup(NewGroupRequest { name, gid }),
            false,
        ),
        GroupCommand::Remove { target, name } => (target, Operation::RemoveGroup(name), false),
        GroupCommand::List { target, json } => (target, Operation::ListGroups, json),
        GroupCommand::Grant {
            target,
            group,
            share,
            permission,
        } => {
            let op = Operation::GroupGrant {
                group,
                share,
                permission: perm(&permission)?,
            };
            (target, op, false)
        }
        GroupCommand::Revoke {
            target,
            group,
            share,
        } => (target, Operation::GroupRevoke { group, share }, false),
    };
    let done = describe(&op);
    let outcome = run(&target, &op)?;
    print(&outcome, json, &done)
}

/// The confirmation line printed after a change.
fn describe(op: &Operation) -> String {
    match op {
        Operation::AddUser(r) => format!("added user {}", r.name),
        Operation::SetPassword { user, .. } => format!("changed the password of {user}"),
        Operation::RemoveUser(n) => format!("removed user {n}"),
        Operation::Grant {
            user,
            share,
            permission,
        } => format!(
            "granted {} on {share} to user {user}",
            permission_name(*permission)
        ),
        Operation::Revoke { user, share } => format!("revoked user {user} on {share}"),
        Operation::Join { user, group } => format!("user {user} joined group {group}"),
        Operation::Leave { user, group } => format!("user {user} left group {group}"),
        Operation::AddGroup(r) => format!("added group {}", r.name),
        Operation::RemoveGroup(n) => format!("removed group {n}"),
        Operation::GroupGrant {
            group,
            share,
            permission,
        } => format!(
            "granted {} on {share} to group {group}",
            permission_name(*permission)
        ),
        Operation::GroupRevoke { group, share } => format!("revoked group {group} on {share}"),
        Operation::ListUsers
        | Operation::GetUser(_)
        | Operation::ListGroups
        | Operation::GetGroup(_) => String::new(),
    }
}

/// Runs `op` remotely (`--server` / `$DITTOFS_API`) or on the store.
fn run(target: &Target, op: &Operation) -> Result<Outcome, CliFailure> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(server) = target.server.clone().or_else(|| env("DITTOFS_API")) {
        let token = target.token.clone().or_else(|| env("DITTOFS_TOKEN"));
        return remote::send(&server, token.as_deref(), op);
    }
    let config = load_config(target.config.as_ref())?;
    let (store, _lock) = store::open_for_cli(&config).map_err(|e| match e {
        store::StoreOpenError::Open { .. } => CliFailure::Runtime(e.into()),
        store::StoreOpenError::InUse { .. } => CliFailure::Runtime(e.into()),
        _ => usage(e),
    })?;
    let admin = Admin::new(store, &config);
    futures_lite::future::block_on(api::execute(&admin, op.clone())).map_err(|e| {
        if e.is_usage() {
            usage(e)
        } else {
            CliFailure::Runtime(e.into())
        }
    })
}

/// The configuration as `dittofs start` would read it (explicit path, else
/// the default path, else the embedded default), validated.
fn load_config(path: Option<&PathBuf>) -> Result<Config, CliFailure> {
    let (config, path) = match path {
        Some(path) => (Config::load(path).map_err(usage)?, Some(path.clone())),
        None => {
            let path = config::default_config_path();
            if path.exists() {
                (Config::load(&path).map_err(usage)?, Some(path))
            } else {
                (Config::default(), None)
            }
        }
    };
    config.validate().map_err(|e| match &path {
        Some(p) => usage(e.in_file(p)),
        None => usage(e),
    })?;
    Ok(config)
}

fn grants_text(grants: &[GrantView]) -> String {
    if grants.is_empty() {
        return "-".to_owned();
    }
    grants
        .iter()
        .map(|g| format!("{}={}", g.share, permission_name(g.permission)))
        .collect::<Vec<_>>()
        .join(",")
}

fn list_text(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

fn print(outcome: &Outcome, json: bool, done: &str) -> Result<(), CliFailure> {
    let to_json = |r: serde_json::Result<String>| {
        r.map_err(|e| CliFailure::Runtime(anyhow!("encoding JSON: {e}")))
    };
    match outcome {
        Outcome::Users(users) if json => {
            println!("{}", to_json(serde_json::to_string_pretty(users))?)
        }
        Outcome::Groups(groups) if json => {
            println!("{}", to_json(serde_json::to_string_pretty(groups))?)
        }
        Outcome::Users(users) => {
            println!(
                "{:<20} {:>10} {:>10}  {:<24} GRANTS",
                "NAME", "UID", "GID", "GROUPS"
            );
            for u in users {
                println!(
                    "{:<20} {:>10} {:>10}  {:<24} {}",
                    u.name,
                    u.uid,
                    u.gid,
                    list_text(&u.groups),
                    grants_text(&u.grants)
                );
            }
        }
        Outcome::Groups(groups) => {
            println!("{:<20} {:>10}  {:<24} GRANTS", "NAME", "GID", "MEMBERS");
            for g in groups {
                println!(
                    "{:<20} {:>10}  {:<24} {}",
                    g.name,
                    g.gid,
                    list_text(&g.members),
                    grants_text(&g.grants)
                );
            }
        }
        Outcome::User(u) => println!("{done} (uid {}, gid {})", u.uid, u.gid),
        Outcome::Group(g) => println!("{done} (gid {})", g.gid),
        Outcome::Done => println!("{done}"),
    }
    Ok(())
}
