//! Name and number rules for users and groups.
//!
//! Names are what `useradd` accepts by default (`[a-z_][a-z0-9_.-]*`, at most
//! 32 characters), lower case only so that SMB (case-insensitive user names)
//! and NFS agree on who is who. Numbers 0 (root), 65534 (nobody/nogroup, the
//! default anon id) and the two highest u32 values (-1 and -2 to NFS clients)
//! are reserved, as are the names `root` and `nobody`/`nogroup`.

use super::IdentityError;

/// Longest user or group name.
pub const NAME_CHARS_MAX: usize = 32;
/// Names no user or group may take.
pub const RESERVED_NAMES: [&str; 3] = ["root", "nobody", "nogroup"];
/// uids and gids no user or group may take.
pub const RESERVED_IDS: [u32; 4] = [0, 65534, u32::MAX - 1, u32::MAX];

fn check_name(kind: &'static str, name: &str) -> Result<(), IdentityError> {
    let bad = |reason| IdentityError::InvalidName {
        kind,
        name: name.to_owned(),
        reason,
    };
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err(bad("must not be empty"));
    };
    if name.len() > NAME_CHARS_MAX {
        return Err(bad("at most 32 characters"));
    }
    if !(first.is_ascii_lowercase() || first == '_') {
        return Err(bad("must start with a lower-case letter or '_'"));
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)) {
        return Err(bad("only a-z, 0-9, '_', '.' and '-' are allowed"));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(bad("reserved"));
    }
    Ok(())
}

/// Checks a user name.
pub fn check_user_name(name: &str) -> Result<(), IdentityError> {
    check_name("user", name)
}

/// Checks a group name.
pub fn check_group_name(name: &str) -> Result<(), IdentityError> {
    check_name("group", name)
}

/// Checks an explicitly given uid or gid (`kind` is "uid" or "gid").
pub fn check_id(kind: &'static str, id: u32) -> Result<(), IdentityError> {
    if RESERVED_IDS.contains(&id) {
        return Err(IdentityError::InvalidId {
            kind,
            id,
            reason: "reserved (root, nobody, or -1/-2)",
        });
    }
    Ok(())
}

/// The lowest id in `min..=max` that `used` does not contain and that is not
/// reserved.
pub fn lowest_free(
    kind: &'static str,
    min: u32,
    max: u32,
    used: &std::collections::BTreeSet<u32>,
) -> Result<u32, IdentityError> {
    (min..=max)
        .find(|id| !used.contains(id) && !RESERVED_IDS.contains(id))
        .ok_or(IdentityError::RangeExhausted { kind, min, max })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names() {
        for ok in ["alice", "_svc", "a1", "web-data", "j.doe", &"x".repeat(32)] {
            check_user_name(ok).unwrap();
            check_group_name(ok).unwrap();
        }
        for bad in [
            "",
            "Alice",
            "1abc",
            "-x",
            "a b",
            "a/b",
            "a:b",
            "root",
            "nobody",
            "nogroup",
            "é",
            &"x".repeat(33),
        ] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
            assert!(check_group_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids() {
        for id in RESERVED_IDS {
            assert!(check_id("uid", id).is_err());
        }
        check_id("uid", 1).unwrap();
        check_id("uid", 70000).unwrap();
        let used: BTreeSet<u32> = [1000, 1001, 1003].into();
        assert_eq!(lowest_free("uid", 1000, 2000, &used).unwrap(), 1002);
        assert_eq!(lowest_free("uid", 65534, 65535, &used).unwrap(), 65535);
        assert!(matches!(
            lowest_free("uid", 1000, 1001, &used),
            Err(IdentityError::RangeExhausted { .. })
        ));
    }
}
