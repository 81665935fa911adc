//! The share operations on a configuration file: read, edit ([`super::edit`]),
//! replace atomically (temp file in the same directory, fsync, rename; the
//! file's mode is kept).

use std::io::Write;
use std::path::Path;

use super::edit::{apply, Change};
use super::{same_name, NewShare, ShareError, ShareUpdate, ShareView};
use crate::config::Config;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ShareError + '_ {
    move |source| ShareError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read(path: &Path) -> Result<String, ShareError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// The shares the file defines (validated like `dittofs start` would).
pub fn list(path: &Path) -> Result<Vec<ShareView>, ShareError> {
    let config = Config::from_toml_str(&read(path)?, path)
        .map_err(|e| ShareError::Invalid(e.to_string()))?;
    Ok(config.shares.iter().map(ShareView::from).collect())
}

pub fn show(path: &Path, name: &str) -> Result<ShareView, ShareError> {
    list(path)?
        .into_iter()
        .find(|s| same_name(&s.name, name))
        .ok_or_else(|| ShareError::NotFound(name.to_owned()))
}

fn change(path: &Path, change: &Change, name: &str) -> Result<Option<ShareView>, ShareError> {
    let (text, config) = apply(&read(path)?, path, change)?;
    write(path, &text)?;
    Ok(config
        .shares
        .iter()
        .find(|s| same_name(&s.name, name))
        .map(ShareView::from))
}

pub fn add(path: &Path, new: &NewShare) -> Result<ShareView, ShareError> {
    change(path, &Change::Add(new), &new.name)?
        .ok_or_else(|| ShareError::NotFound(new.name.clone()))
}

pub fn update(path: &Path, name: &str, update: &ShareUpdate) -> Result<ShareView, ShareError> {
    change(path, &Change::Update(name, update), name)?
        .ok_or_else(|| ShareError::NotFound(name.to_owned()))
}

pub fn remove(path: &Path, name: &str) -> Result<(), ShareError> {
    change(path, &Change::Remove(name), name).map(|_| ())
}

/// Replaces `path` with `text` atomically, keeping its permissions.
fn write(path: &Path, text: &str) -> Result<(), ShareError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.dittofs-{}.tmp", std::process::id()));
    let result = (|| {
        let permissions = std::fs::metadata(path)?.permissions();
        let mut f = std::fs::File::create(&tmp)?;
        f.set_permissions(permissions)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            // Best effort: the rename is durable once the directory is synced.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(path))
}
