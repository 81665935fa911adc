//! Conformance: named streams (see `meta::streams`) — hidden inodes found
//! through their base, invisible to the namespace, kept across renames and
//! links of the base, removed by `remove_stream` / `drop_streams`.

use super::conformance::{mk, new_inode, rn, root, t};
use super::{AttrChange, MetaError, MetadataStore, RemoveKind};
use crate::fs::FileType;

/// Create, look up, list, grow, remove; streams never show in a listing.
pub async fn lifecycle(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    let d = mk(s, r, "d", FileType::Directory).await;
    let new = new_inode(FileType::Regular, 0o644);
    assert_eq!(
        s.create_stream(9_999_999, b"x", b"x", &new, t(11))
            .await
            .map(|_| ()),
        Err(MetaError::NoInode(9_999_999))
    );
    assert_eq!(
        s.create_stream(f.ino, b"a:b", b"a:b", &new, t(11))
            .await
            .map(|_| ()),
        Err(MetaError::InvalidArgument)
    );
    let c = s
        .create_stream(f.ino, b"zone", b"Zone", &new, t(11))
        .await
        .expect("create stream");
    assert!(!c.existed);
    assert_eq!(c.stream.name, b"Zone");
    assert_eq!(c.stream.attr.ftype, FileType::Regular);
    assert_eq!(c.stream.attr.nlink, 1);
    assert_eq!(c.stream.attr.size, 0);
    assert_ne!(c.stream.attr.ino, f.ino);
    let again = s
        .create_stream(f.ino, b"zone", b"ZONE", &new, t(12))
        .await
        .expect("existing stream");
    assert!(again.existed);
    assert_eq!(again.stream.attr.ino, c.stream.attr.ino);
    assert_eq!(again.stream.name, b"Zone");
    let other = s
        .create_stream(f.ino, b"afp", b"AFP", &new, t(11))
        .await
        .expect("second stream");
    // A directory can have streams too.
    let on_dir = s
        .create_stream(d.ino, b"zone", b"zone", &new, t(11))
        .await
        .expect("stream of a directory");
    assert_ne!(on_dir.stream.attr.ino, c.stream.attr.ino);

    // Size lives on the stream inode (set_attr), not on the base.
    let grow = AttrChange {
        grow_to: Some(123),
        ..AttrChange::default()
    };
    s.set_attr(c.stream.attr.ino, &grow, t(13))
        .await
        .expect("grow stream");
    let found = s.lookup_stream(f.ino, b"zone").await.expect("lookup");
    assert_eq!(found.map(|x| x.attr.size), Some(123));
    assert_eq!(s.get(f.ino).await.map(|a| a.size), Ok(0));
    assert_eq!(s.lookup_stream(f.ino, b"none").await, Ok(None));

    let listed = s.list_streams(f.ino).await.expect("list");
    let keys: Vec<&[u8]> = listed.iter().map(|x| &x.key[..]).collect();
    assert_eq!(keys, [&b"afp"[..], &b"zone"[..]]);
    assert_eq!(listed[1].attr.size, 123);
    assert_eq!(s.list_streams(d.ino).await.map(|l| l.len()), Ok(1));

    // Invisible to the namespace.
    let listing = s.readdir(r, 0, 100, false).await.expect("readdir");
    let names: Vec<&[u8]> = listing.entries.iter().map(|e| &e.name[..]).collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let gone = s.remove_stream(f.ino, b"afp").await.expect("remove");
    assert_eq!(gone.map(|a| a.ino), Some(other.stream.attr.ino));
    assert!(s.get(other.stream.attr.ino).await.is_err());
    assert_eq!(s.remove_stream(f.ino, b"afp").await, Ok(None));
    assert_eq!(s.list_streams(f.ino).await.map(|l| l.len()), Ok(1));
}

/// Rename of a stream, of its base, hard links; dropping the streams of a
/// removed base.
pub async fn rename_and_drop(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    let new = new_inode(FileType::Regular, 0o644);
    let a = s
        .create_stream(f.ino, b"a", b"a", &new, t(11))
        .await
        .expect("a");
    let b = s
        .create_stream(f.ino, b"b", b"b", &new, t(11))
        .await
        .expect("b");
    assert_eq!(
        s.rename_stream(f.ino, b"a", b"b", b"B", false).await,
        Err(MetaError::Exists)
    );
    assert_eq!(
        s.rename_stream(f.ino, b"none", b"c", b"c", false).await,
        Err(MetaError::NoEntry)
    );
    assert_eq!(
        s.rename_stream(f.ino, b"a", b"c", b"C", false).await,
        Ok(None)
    );
    let c = s.lookup_stream(f.ino, b"c").await.expect("c").expect("c");
    assert_eq!(
        (c.name.as_slice(), c.attr.ino),
        (&b"C"[..], a.stream.attr.ino)
    );
    assert_eq!(s.lookup_stream(f.ino, b"a").await, Ok(None));
    let replaced = s
        .rename_stream(f.ino, b"c", b"b", b"b2", true)
        .await
        .expect("replace");
    assert_eq!(replaced.map(|x| x.ino), Some(b.stream.attr.ino));
    assert!(s.get(b.stream.attr.ino).await.is_err());

    // Renaming and linking the base keeps its streams (keyed by inode).
    s.rename(rn(r, "f", r, "g"), t(12)).await.expect("rename");
    s.link(f.ino, r, b"h", t(12)).await.expect("link");
    let still = s.lookup_stream(f.ino, b"b").await.expect("lookup");
    assert_eq!(still.map(|x| x.attr.ino), Some(a.stream.attr.ino));

    // The last link goes: the caller drops the streams.
    s.remove(r, b"g", RemoveKind::NonDirectory, None, t(13))
        .await
        .expect("remove g");
    s.remove(r, b"h", RemoveKind::NonDirectory, None, t(13))
        .await
        .expect("remove h");
    let dropped = s.drop_streams(f.ino).await.expect("drop");
    assert_eq!(
        dropped.iter().map(|x| x.ino).collect::<Vec<_>>(),
        [a.stream.attr.ino]
    );
    assert!(s.get(a.stream.attr.ino).await.is_err());
    assert_eq!(s.list_streams(f.ino).await, Ok(Vec::new()));
    assert_eq!(s.drop_streams(f.ino).await, Ok(Vec::new()));
}
