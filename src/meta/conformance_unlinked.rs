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

/// The orphan set names exactly the inodes kept at nlink 0 and not yet reaped
/// (or linked again), listed in ascending batches.
pub async fn orphan_set(s: &dyn MetadataStore) {
    let r = root(s).await;
    let keep = RemoveKind::NonDirectoryKeep;
    let f = mk(s, r, "f", FileType::Regular).await;
    let g = mk(s, r, "g", FileType::Regular).await;
    let h = mk(s, r, "h", FileType::Regular).await;
    let k = mk(s, r, "k", FileType::Regular).await;
    assert_eq!(s.orphans(0, 10).await, Ok(vec![]));
    s.remove(r, b"f", keep, None, t(20))
        .await
        .expect("remove f");
    assert_eq!(s.orphans(0, 10).await, Ok(vec![f.ino]));
    // A plain remove deletes the inode at once: nothing to remember.
    s.remove(r, b"g", RemoveKind::NonDirectory, None, t(20))
        .await
        .expect("remove g");
    // A kept remove that leaves a link is no orphan.
    s.link(h.ino, r, b"h2", t(21)).await.expect("link h");
    s.remove(r, b"h", keep, None, t(22))
        .await
        .expect("remove h");
    assert_eq!(s.orphans(0, 10).await, Ok(vec![f.ino]));
    s.remove(r, b"k", keep, None, t(23))
        .await
        .expect("remove k");
    assert_eq!(s.orphans(0, 10).await, Ok(vec![f.ino, k.ino]));
    // Bounded batches, continued after the last id.
    assert_eq!(s.orphans(0, 1).await, Ok(vec![f.ino]));
    assert_eq!(s.orphans(f.ino, 1).await, Ok(vec![k.ino]));
    assert_eq!(s.orphans(k.ino, 1).await, Ok(vec![]));
    assert_eq!(s.orphans(0, 0).await, Ok(vec![]));
    // Linked again: no orphan any more, and a reap leaves it alone.
    s.link(k.ino, r, b"k2", t(24)).await.expect("relink k");
    assert_eq!(s.orphans(0, 10).await, Ok(vec![f.ino]));
    assert_eq!(s.reap(k.ino).await, Ok(None));
    assert_eq!(s.get(k.ino).await.map(|a| a.nlink), Ok(1));
    // The reap takes it out with the inode.
    assert!(s.reap(f.ino).await.expect("reap f").is_some());
    assert_eq!(s.orphans(0, 10).await, Ok(vec![]));
    assert_eq!(s.reap(f.ino).await, Ok(None));
    assert!(s.get(g.ino).await.is_err());
}
