//! Subcommands of the `dittofs` binary beyond `init`/`start`/`config`/`db`:
//! user and group administration ([`identity`]) and share definitions
//! ([`share`], which edits the configuration file or calls the API).
//!
//! Each command builds one [`dittofs::identity::api::Operation`] and runs it
//! either on the configured identity store directly (server stopped) or, with
//! `--server URL` / `$DITTOFS_API`, through the running server's REST API
//! ([`remote`]): the same operation and the same service behind both.

pub mod identity;
mod remote;
pub mod share;

/// Why a subcommand failed; decides the exit status like `main`'s `Failure`.
pub enum CliFailure {
    /// Bad usage or configuration: exit 2.
    Usage(anyhow::Error),
    /// The store, the server or the system failed: exit 1.
    Runtime(anyhow::Error),
}
