//! The `[[shares]]` edits on the TOML text, comments and layout kept, each
//! checked with the configuration's own parsing and validation.

use std::path::Path;

use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table, Value};

use super::{same_name, NewShare, ShareError, ShareUpdate};
use crate::config::{Config, SharePermission};
use crate::identity::permission_name;

/// One change to the shares of a configuration file.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    Add(&'a NewShare),
    Update(&'a str, &'a ShareUpdate),
    Remove(&'a str),
}

/// Applies `change` to the configuration text; returns the new text and the
/// configuration it parses to (validated). `path` is for messages only.
pub fn apply(text: &str, path: &Path, change: &Change) -> Result<(String, Config), ShareError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| ShareError::Invalid(format!("{}: {e}", path.display())))?;
    match change {
        Change::Add(new) => add(&mut doc, new)?,
        Change::Update(name, update) => {
            let table = find(shares_mut(&mut doc)?, name)?;
            set_live_keys(
                table,
                update.default_permission,
                update.read_only,
                update.allowed_clients.as_deref(),
            );
        }
        Change::Remove(name) => {
            let shares = shares_mut(&mut doc)?;
            let index = index_of(shares, name)?;
            if shares.len() == 1 {
                // Without any [[shares]] the built-in default share would
                // silently come back.
                return Err(ShareError::Invalid(
                    "at least one [[shares]] entry is required: cannot remove the last share"
                        .to_owned(),
                ));
            }
            shares.remove(index);
        }
    }
    let new_text = doc.to_string();
    let config =
        Config::from_toml_str(&new_text, path).map_err(|e| ShareError::Invalid(e.to_string()))?;
    config
        .validate()
        .map_err(|e| ShareError::Invalid(e.in_file(path).to_string()))?;
    Ok((new_text, config))
}

fn add(doc: &mut DocumentMut, new: &NewShare) -> Result<(), ShareError> {
    let name = format!("/{}", new.name.trim_start_matches('/'));
    let mut table = Table::new();
    table["name"] = value(name.as_str());
    table["metadata_store"] = value(new.metadata_store.as_str());
    table["block_store"] = value(new.block_store.as_str());
    set_live_keys(
        &mut table,
        new.default_permission,
        new.read_only,
        new.allowed_clients.as_deref(),
    );
    match doc.get_mut("shares") {
        None => {
            let mut shares = ArrayOfTables::new();
            shares.push(table);
            doc.insert("shares", Item::ArrayOfTables(shares));
        }
        Some(item) => {
            let shares = item.as_array_of_tables_mut().ok_or_else(not_tables)?;
            if index_of(shares, &name).is_ok() {
                return Err(ShareError::Exists(name));
            }
            shares.push(table);
        }
    }
    Ok(())
}

fn set_live_keys(
    table: &mut Table,
    permission: Option<SharePermission>,
    read_only: Option<bool>,
    clients: Option<&[String]>,
) {
    if let Some(p) = permission {
        set(table, "default_permission", Value::from(permission_name(p)));
    }
    if let Some(ro) = read_only {
        set(table, "read_only", Value::from(ro));
    }
    if let Some(clients) = clients {
        let list: Array = clients.iter().map(String::as_str).collect();
        set(table, "allowed_clients", Value::Array(list));
    }
}

/// Sets `key`, keeping the old value's surrounding whitespace and comment.
fn set(table: &mut Table, key: &str, mut new: Value) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        None => table[key] = Item::Value(new),
    }
}

fn not_tables() -> ShareError {
    ShareError::Invalid(
        "shares are not written as [[shares]] tables; edit the file by hand".to_owned(),
    )
}

fn shares_mut(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, ShareError> {
    match doc.get_mut("shares") {
        // No [[shares]] in the file: the built-in default share applies,
        // which cannot be edited without writing it out.
        None => Err(ShareError::Invalid(
            "the file has no [[shares]] (the built-in default share is used); add one with \
             `dittofs share add` or by hand first"
                .to_owned(),
        )),
        Some(item) => item.as_array_of_tables_mut().ok_or_else(not_tables),
    }
}

fn index_of(shares: &ArrayOfTables, name: &str) -> Result<usize, ShareError> {
    shares
        .iter()
        .position(|t| {
            t.get("name")
                .and_then(Item::as_str)
                .is_some_and(|n| same_name(n, name))
        })
        .ok_or_else(|| ShareError::NotFound(name.to_owned()))
}

fn find<'a>(shares: &'a mut ArrayOfTables, name: &str) -> Result<&'a mut Table, ShareError> {
    let index = index_of(shares, name)?;
    shares
        .get_mut(index)
        .ok_or_else(|| ShareError::NotFound(name.to_owned()))
}
