//! Conformance: an unlinked inode kept alive for its opens
//! ([`RemoveKind::NonDirectoryKeep`]) and deleted by [`MetadataStore::reap`].

use super::conformance::{mk, root, t};
use super::{MetaError, MetadataStore, RemoveKind};
use crate::fs::FileType;

/// The name goes at once; the inode stays with nlink 0 until reaped.
pub async fn keep_and_reap(s: &dyn MetadataStore) {
    let r = root(s).await;
    let f = mk(s, r, "f", FileType::Regular).await;
    let g = mk(s, r, "g", FileType::Regular).await;
    let d = mk(s, r, "d", FileType::Directory).await;
    let keep = RemoveKind::NonDirectoryKeep;
    assert_eq!(
        s.remove(r, b"d", keep, None, t(20)).await.map(|_| ()),
        Err(MetaError::IsDirectory)
    );
    let removed = s.remove(r, b"f", keep, None, t(20)).await.expect("remove");
    assert!(!removed.victim.last_link);
    assert_eq!(removed.victim.attr.nlink, 0);
    assert_eq!(s.lookup(r, b"f").await, Err(MetaError::NoEntry));
    let kept = s.get(f.ino).await.expect("kept inode");
    assert_eq!(kept.nlink, 0);
    // A linked file and a directory are never reaped.
    assert_eq!(s.reap(g.ino).await, Ok(None));
    assert_eq!(s.reap(d.ino).await, Ok(None));
    let reaped = s.reap(f.ino).await.expect("reap").expect("reaped");
    assert_eq!(reaped.ino, f.ino);
    assert!(s.get(f.ino).await.is_err());
    assert_eq!(s.reap(f.ino).await, Ok(None));
    // A kept file that still has another link is an ordinary remove.
    s.link(g.ino, r, b"g2", t(21)).await.expect("link");
    let removed = s.remove(r, b"g", keep, None, t(22)).await.expect("remove");
    assert_eq!(removed.victim.attr.nlink, 1);
    assert_eq!(s.reap(g.ino).await, Ok(None));
    assert_eq!(s.get(g.ino).await.map(|a| a.nlink), Ok(1));
}
