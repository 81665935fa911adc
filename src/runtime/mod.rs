//! Thread-per-core runtime: executors, listeners, connections, shutdown.

// ---- BEGIN TEMPORARY STUB (branch `cli`) -----------------------------------
// Placeholder so `main.rs` builds before the runtime lands. The runtime branch
// replaces this whole block with the real `StartError` and `run`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Other(String),
}

pub fn run(_config: &crate::config::Config) -> Result<(), StartError> {
    Err(StartError::Other("runtime not built yet".into()))
}
// ---- END TEMPORARY STUB -----------------------------------------------------
