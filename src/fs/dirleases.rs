//! Directory leases (SMB 3.x, MS-SMB2 3.3.5.9.11): an SMB client caches a
//! directory's listing and the handle to it under an R or RH lease, which the
//! server breaks to none when the directory's contents change.
//!
//! Why here: the grants live in the same process-wide table as file leases
//! ([`super::leases`], keyed by the directory's inode), and the break comes
//! from the fs core's namespace reports (`watch_report.rs`: create, remove,
//! rename in or out, link), so a change made over NFS or by another SMB
//! connection breaks the lease the same way. With no directory lease in the
//! process that costs one relaxed atomic load ([`DIR_LEASES`]).
//!
//! Who is spared: a change made through an SMB open whose v2 lease names the
//! directory's lease key as its ParentLeaseKey (same client) does not break
//! that lease; the client knows about its own change ("break the parent lease
//! except for the client holding the same key", as Windows and Samba do).
//!
//! No waiting: the break is sent and the change goes on (as Samba does): the
//! changer may be the holder's own connection, which handles one frame at a
//! time, and a directory listing cache is only advisory for the client. A
//! break that needs an acknowledgment (RH) stays pending until the holder
//! acknowledges or closes; a later change sends nothing more meanwhile.
//!
//! Also breaking: SMB CLOSE of an open that wrote (the write time changes,
//! smbtorture smb2.lease.v2_request: "only the close on the modified file
//! break the directory lease"). Not breaking: NFS WRITE/SETATTR of an entry
//! and SMB SET_INFO of an entry's attributes or size (no smbtorture case;
//! documented in ARCHITECTURE.md).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::leases::{self, Holder, Op, Origin};
use super::{Fs, InodeId};

/// Live directory lease opens in the process; 0 means nothing to break.
pub static DIR_LEASES: AtomicUsize = AtomicUsize::new(0);

/// Counts one directory lease open in [`DIR_LEASES`] while alive.
#[derive(Debug)]
pub struct DirLeaseCount(());

impl DirLeaseCount {
    pub fn new() -> Self {
        DIR_LEASES.fetch_add(1, Ordering::Relaxed);
        DirLeaseCount(())
    }
}

impl Default for DirLeaseCount {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DirLeaseCount {
    fn drop(&mut self) {
        DIR_LEASES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The grant a change by `origin` must not break: its parent lease.
fn spared(origin: Option<Origin>) -> Option<Origin> {
    let o = origin?;
    let (Holder::Lease { client_guid, .. }, Some(p)) = (o.holder, o.parent_key) else {
        return None;
    };
    Some(Origin {
        holder: Holder::Lease {
            client_guid,
            key: p,
        },
        conn: o.conn,
        parent_key: None,
    })
}

/// Breaks the leases on directory `dir` of share `share_id` to none, except
/// the parent lease of `origin` (None: NFS or internal, breaks all).
pub fn break_dir(share_id: u32, dir: InodeId, origin: Option<Origin>) {
    if DIR_LEASES.load(Ordering::Relaxed) == 0 {
        return;
    }
    leases::table().break_now((share_id, dir), spared(origin), Op::DirChange);
}

impl Fs {
    /// The contents of `dir` changed (namespace report): break its leases.
    pub(crate) fn break_dir_leases(&self, dir: InodeId) {
        if DIR_LEASES.load(Ordering::Relaxed) == 0 {
            return;
        }
        break_dir(self.share.id, dir, leases::current_origin());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(guid: u8, key: u8) -> Holder {
        Holder::Lease {
            client_guid: [guid; 16],
            key: [key; 16],
        }
    }

    #[derive(Default)]
    struct Rec(std::sync::Mutex<Vec<leases::Notice>>);

    impl leases::BreakSink for Rec {
        fn send(&self, n: &leases::Notice) {
            self.0.lock().unwrap().push(*n);
        }
    }

    #[test]
    fn change_breaks_rh_to_none_except_for_the_parent_key_holder() {
        use leases::{Request, H, R};
        // A share id no other test uses: the table is process-wide.
        let dir = (0xd1e0, 42);
        let sink = std::sync::Arc::new(Rec::default());
        let holder = lease(5, 6);
        let (token, g) = leases::table()
            .register(
                dir,
                holder,
                11,
                sink.clone(),
                Request {
                    state: R | H,
                    v2: Some(([0; 16], 0)),
                    stat: false,
                },
            )
            .unwrap();
        assert_eq!(g.state, R | H);
        let count = DirLeaseCount::new();
        // The same client creating under ParentLeaseKey 6: nothing.
        let own = Origin {
            holder: lease(5, 9),
            conn: 11,
            parent_key: Some([6; 16]),
        };
        break_dir(dir.0, dir.1, Some(own));
        assert!(sink.0.lock().unwrap().is_empty());
        // Another client (or NFS): RH -> none, acknowledgment required.
        let other = Origin {
            holder: lease(7, 9),
            conn: 12,
            parent_key: Some([6; 16]),
        };
        break_dir(dir.0, dir.1, Some(other));
        let got = std::mem::take(&mut *sink.0.lock().unwrap());
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].current, got[0].new), (R | H, 0));
        assert!(got[0].ack_required);
        // Pending: a further change sends nothing more until acknowledged.
        break_dir(dir.0, dir.1, None);
        assert!(sink.0.lock().unwrap().is_empty());
        assert_eq!(leases::table().ack(dir, holder, 0), Ok(0));
        drop(count);
        drop(token);
    }

    #[test]
    fn spares_only_the_parent_key_of_a_lease_origin() {
        let o = Origin {
            holder: lease(1, 3),
            conn: 7,
            parent_key: Some([2; 16]),
        };
        assert_eq!(spared(Some(o)).map(|s| s.holder), Some(lease(1, 2)));
        let no_parent = Origin {
            parent_key: None,
            ..o
        };
        assert_eq!(spared(Some(no_parent)), None);
        let oplock = Origin {
            holder: Holder::Open(9),
            ..o
        };
        assert_eq!(spared(Some(oplock)), None);
        assert_eq!(spared(None), None);
    }
}
