use std::path::Path;

use super::edit::{apply, Change};
use super::{file, NewShare, ShareError, ShareUpdate};
use crate::config::SharePermission;

const EXAMPLE: &str = include_str!("../../config.toml.example");

fn p() -> &'static Path {
    Path::new("test.toml")
}

fn update(permission: Option<SharePermission>, clients: Option<Vec<&str>>) -> ShareUpdate {
    ShareUpdate {
        default_permission: permission,
        read_only: None,
        allowed_clients: clients.map(|c| c.into_iter().map(String::from).collect()),
    }
}

#[test]
fn update_keeps_comments_and_changes_only_the_keys() {
    let u = update(Some(SharePermission::Read), Some(vec!["10.0.0.0/8"]));
    let (text, config) = apply(EXAMPLE, p(), &Change::Update("export", &u)).unwrap();
    assert_eq!(config.shares[0].default_permission, SharePermission::Read);
    assert_eq!(config.shares[0].allowed_clients, vec!["10.0.0.0/8"]);
    assert!(text.contains("default_permission = \"read\"\n"), "{text}");
    assert!(
        text.contains("allowed_clients = [\"10.0.0.0/8\"]\n"),
        "{text}"
    );
    // Every comment line of the example is still there, in the same order.
    let comments = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(comments(&text), comments(EXAMPLE));
    // Only the two changed lines differ.
    let changed = EXAMPLE
        .lines()
        .zip(text.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 2);
    assert_eq!(EXAMPLE.lines().count(), text.lines().count());
}

#[test]
fn trailing_comment_of_a_changed_value_stays() {
    let text = EXAMPLE.replace("read_only = false\n", "read_only = false # keep me\n");
    let u = ShareUpdate {
        read_only: Some(true),
        ..ShareUpdate::default()
    };
    let (out, config) = apply(&text, p(), &Change::Update("/export", &u)).unwrap();
    assert!(config.shares[0].read_only);
    assert!(out.contains("read_only = true # keep me\n"), "{out}");
}

#[test]
fn validation_refuses_bad_input() {
    let bad_cidr = update(None, Some(vec!["10.0.0.0/99"]));
    let err = apply(EXAMPLE, p(), &Change::Update("export", &bad_cidr)).unwrap_err();
    assert!(
        matches!(err, ShareError::Invalid(ref m) if m.contains("allowed_clients")),
        "{err}"
    );

    let new = |name: &str, meta: &str| NewShare {
        name: name.into(),
        metadata_store: meta.into(),
        block_store: "default".into(),
        default_permission: None,
        read_only: None,
        allowed_clients: None,
    };
    let err = apply(EXAMPLE, p(), &Change::Add(&new("/other", "nope"))).unwrap_err();
    assert!(
        matches!(err, ShareError::Invalid(ref m) if m.contains("nope")),
        "{err}"
    );
    let err = apply(EXAMPLE, p(), &Change::Add(&new("/a/b", "default"))).unwrap_err();
    assert!(matches!(err, ShareError::Invalid(_)), "{err}");
    let err = apply(EXAMPLE, p(), &Change::Add(&new("export", "default"))).unwrap_err();
    assert!(matches!(err, ShareError::Exists(_)), "{err}");
    let err = apply(
        EXAMPLE,
        p(),
        &Change::Update("nope", &ShareUpdate::default()),
    )
    .unwrap_err();
    assert!(matches!(err, ShareError::NotFound(_)), "{err}");
    // The only share cannot go: at least one is required.
    let err = apply(EXAMPLE, p(), &Change::Remove("/export")).unwrap_err();
    assert!(matches!(err, ShareError::Invalid(_)), "{err}");
}

#[test]
fn add_then_remove_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dittofs.toml");
    std::fs::write(&path, EXAMPLE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let new = NewShare {
        name: "media".into(),
        metadata_store: "default".into(),
        block_store: "default".into(),
        default_permission: Some(SharePermission::Read),
        read_only: Some(true),
        allowed_clients: Some(vec!["192.0.2.7".into()]),
    };
    let added = file::add(&path, &new).unwrap();
    assert_eq!(added.name, "/media");
    assert!(added.read_only);
    let names: Vec<_> = file::list(&path)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["/export", "/media"]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with(&EXAMPLE[..200]));
    file::remove(&path, "/export").unwrap();
    assert_eq!(
        file::show(&path, "media").unwrap().default_permission,
        SharePermission::Read
    );
    assert!(matches!(
        file::show(&path, "export"),
        Err(ShareError::NotFound(_))
    ));
    // No temp file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
