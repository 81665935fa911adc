//! Conformance checks for what the store keeps besides the namespace: users,
//! groups, DOS attributes and the creation time (`Attr::btime`, which only SMB
//! shows and sets). Called from [`super::conformance::run_all`], so
//! every store runs them.

use super::{
    AttrChange, GroupRecord, MetaError, MetadataStore, NewInode, OnExists, RemoveKind,
    SharePermission, UserRecord,
};
use crate::fs::{DeviceId, FileType, Timespec};

fn user(name: &str, uid: u32) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        uid,
        gid: 100,
        groups: vec![100, 7, 4242],
        password_hash: format!("$2b$12$hash-of-{name}"),
        nt_hash: Some([uid as u8; 16]),
        share_permissions: vec![
            ("/export".to_owned(), SharePermission::ReadWrite),
            ("/archive".to_owned(), SharePermission::Read),
            ("/admin".to_owned(), SharePermission::Admin),
            ("/secret".to_owned(), SharePermission::None),
        ],
    }
}

fn group(name: &str, gid: u32) -> GroupRecord {
    GroupRecord {
        name: name.to_owned(),
        gid,
        share_permissions: vec![("/export".to_owned(), SharePermission::Read)],
    }
}

/// Users and groups: insert, replace by name, uid/gid clash, lookups, removal,
/// listing order and the round trip of every field.
pub async fn identity(s: &dyn MetadataStore) {
    assert!(s.list_users().await.expect("list").is_empty());
    assert_eq!(s.get_user("alice").await.expect("get"), None);
    assert_eq!(s.get_user_by_uid(1000).await.expect("by uid"), None);

    let alice = user("alice", 1000);
    s.put_user(&alice).await.expect("put alice");
    assert_eq!(s.get_user("alice").await.expect("get"), Some(alice.clone()));
    assert_eq!(
        s.get_user_by_uid(1000).await.expect("by uid"),
        Some(alice.clone())
    );

    // Another name with alice's uid is refused and changes nothing.
    let clash = user("mallory", 1000);
    assert!(matches!(s.put_user(&clash).await, Err(MetaError::Exists)));
    assert_eq!(s.get_user("mallory").await.expect("get"), None);
    assert_eq!(
        s.get_user_by_uid(1000).await.expect("by uid"),
        Some(alice.clone())
    );

    // Replace by name: a new uid frees the old one; no hash is kept as None.
    let mut alice2 = user("alice", 1001);
    alice2.nt_hash = None;
    alice2.groups.clear();
    alice2.share_permissions.truncate(1);
    s.put_user(&alice2).await.expect("replace alice");
    assert_eq!(
        s.get_user("alice").await.expect("get"),
        Some(alice2.clone())
    );
    assert_eq!(s.get_user_by_uid(1000).await.expect("old uid"), None);
    assert_eq!(
        s.get_user_by_uid(1001).await.expect("new uid"),
        Some(alice2.clone())
    );
    // Re-putting the same record (same uid, same name) is no clash.
    s.put_user(&alice2).await.expect("idempotent put");
    // The freed uid can be taken.
    let bob = user("bob", 1000);
    s.put_user(&bob).await.expect("put bob");
    let carol = user("Carol", 5);
    s.put_user(&carol).await.expect("put carol");
    let names: Vec<String> = s
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["Carol", "alice", "bob"]);
    assert_eq!(s.list_users().await.expect("list")[2], bob);

    assert!(s.remove_user("bob").await.expect("remove bob"));
    assert!(!s.remove_user("bob").await.expect("remove again"));
    assert_eq!(s.get_user("bob").await.expect("get"), None);
    assert_eq!(s.get_user_by_uid(1000).await.expect("by uid"), None);
    assert_eq!(s.list_users().await.expect("list").len(), 2);

    // Groups: the same rules; gids live apart from uids.
    assert!(s.list_groups().await.expect("list").is_empty());
    let staff = group("staff", 1001);
    s.put_group(&staff).await.expect("put staff");
    assert_eq!(
        s.get_group("staff").await.expect("get"),
        Some(staff.clone())
    );
    assert_eq!(
        s.get_group_by_gid(1001).await.expect("by gid"),
        Some(staff.clone())
    );
    assert!(matches!(
        s.put_group(&group("other", 1001)).await,
        Err(MetaError::Exists)
    ));
    let mut staff2 = group("staff", 50);
    staff2.share_permissions = vec![
        ("/a".to_owned(), SharePermission::Admin),
        ("/b".to_owned(), SharePermission::None),
    ];
    s.put_group(&staff2).await.expect("replace staff");
    assert_eq!(s.get_group_by_gid(1001).await.expect("old gid"), None);
    assert_eq!(
        s.get_group_by_gid(50).await.expect("new gid"),
        Some(staff2.clone())
    );
    s.put_group(&group("admins", 1001))
        .await
        .expect("put admins");
    let names: Vec<String> = s
        .list_groups()
        .await
        .expect("list")
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["admins", "staff"]);
    assert!(s.remove_group("admins").await.expect("remove"));
    assert!(!s.remove_group("admins").await.expect("remove again"));
    assert_eq!(s.get_group_by_gid(1001).await.expect("by gid"), None);
    assert_eq!(s.list_groups().await.expect("list"), vec![staff2]);
    // Users were not touched by group changes.
    assert_eq!(s.get_user("alice").await.expect("get"), Some(alice2));
}

/// DOS attributes: 0 until set, kept per inode, `NoInode` for a missing one.
pub async fn dos_attributes(s: &dyn MetadataStore) {
    let r = s.share_root("/export", 0o755).await.expect("share_root");
    let new = NewInode {
        ftype: FileType::Regular,
        mode: 0o644,
        uid: 1000,
        gid: 100,
        rdev: DeviceId::default(),
        target: Vec::new(),
        verifier: None,
        on_exists: OnExists::Fail,
    };
    let now = Timespec { sec: 10, nsec: 7 };
    let a = s.create(r, b"a", &new, now).await.expect("a").attr;
    let b = s.create(r, b"b", &new, now).await.expect("b").attr;
    assert_eq!(s.get_dos_attributes(a.ino).await.expect("a"), 0);
    assert_eq!(s.get_dos_attributes(r).await.expect("root"), 0);
    s.set_dos_attributes(a.ino, 0x21).await.expect("set a");
    assert_eq!(s.get_dos_attributes(a.ino).await.expect("a"), 0x21);
    assert_eq!(s.get_dos_attributes(b.ino).await.expect("b"), 0);
    s.set_dos_attributes(a.ino, 0x8000_0002)
        .await
        .expect("set a again");
    assert_eq!(s.get_dos_attributes(a.ino).await.expect("a"), 0x8000_0002);
    // Setting them is not an attribute change NFS sees.
    assert_eq!(s.get(a.ino).await.expect("attr").ctime, a.ctime);

    let missing = a.ino.max(b.ino) + 1000;
    assert!(matches!(
        s.get_dos_attributes(missing).await,
        Err(MetaError::NoInode(i)) if i == missing
    ));
    assert!(matches!(
        s.set_dos_attributes(missing, 1).await,
        Err(MetaError::NoInode(i)) if i == missing
    ));
    s.remove(r, b"a", RemoveKind::NonDirectory, None, now)
        .await
        .expect("remove a");
    assert!(matches!(
        s.get_dos_attributes(a.ino).await,
        Err(MetaError::NoInode(_))
    ));
    assert!(matches!(
        s.set_dos_attributes(a.ino, 1).await,
        Err(MetaError::NoInode(_))
    ));
}

/// Creation time: every create path fills it with the create time, only an
/// explicit `AttrChange::btime` changes it (and then ctime becomes `now`), other
/// changes and renames keep it, and it reads back from the store.
pub async fn creation_time(s: &dyn MetadataStore) {
    let r = s.share_root("/export", 0o755).await.expect("share_root");
    let t = |sec| Timespec { sec, nsec: 9 };
    let mut made = Vec::new();
    for (name, ftype) in [
        ("f", FileType::Regular),
        ("d", FileType::Directory),
        ("l", FileType::Symlink),
        ("p", FileType::Fifo),
    ] {
        let new = NewInode {
            ftype,
            mode: 0o644,
            uid: 1000,
            gid: 100,
            rdev: DeviceId::default(),
            target: if ftype == FileType::Symlink {
                b"f".to_vec()
            } else {
                Vec::new()
            },
            verifier: None,
            on_exists: OnExists::Fail,
        };
        let a = s
            .create(r, name.as_bytes(), &new, t(20))
            .await
            .expect(name)
            .attr;
        assert_eq!(a.btime, t(20), "{name}");
        assert_eq!(s.get(a.ino).await.expect(name).btime, t(20), "{name}");
        made.push(a);
    }
    let f = &made[0];
    let set = AttrChange {
        btime: Some(t(5)),
        ..AttrChange::default()
    };
    let (_, after) = s.set_attr(f.ino, &set, t(30)).await.expect("set btime");
    assert_eq!(
        [after.btime, after.atime, after.mtime, after.ctime],
        [t(5), t(20), t(20), t(30)]
    );
    let got = s.get(f.ino).await.expect("get");
    assert_eq!((got.btime, got.ctime), (t(5), t(30)));
    let chmod = AttrChange {
        mode: Some(0o600),
        mtime: Some(t(31)),
        ..AttrChange::default()
    };
    let (_, after) = s.set_attr(f.ino, &chmod, t(32)).await.expect("chmod");
    assert_eq!(after.btime, t(5));
    // A client-set ctime replaces `now`.
    let set_ctime = AttrChange {
        ctime: Some(t(3)),
        ..AttrChange::default()
    };
    let (_, after) = s.set_attr(f.ino, &set_ctime, t(33)).await.expect("ctime");
    assert_eq!((after.ctime, after.btime), (t(3), t(5)));
    assert_eq!(s.get(f.ino).await.expect("get").ctime, t(3));
    let d = &made[1];
    let (_, after) = s.set_attr(d.ino, &set, t(33)).await.expect("dir btime");
    assert_eq!(after.btime, t(5));
    s.rename(
        super::RenameArgs {
            from_dir: r,
            from_name: b"f",
            to_dir: d.ino,
            to_name: b"g",
            expect_src: None,
            expect_dst: None,
        },
        t(40),
    )
    .await
    .expect("rename");
    assert_eq!(s.get(f.ino).await.expect("moved").btime, t(5));
    assert_eq!(s.get(d.ino).await.expect("dir").btime, t(5));
}
