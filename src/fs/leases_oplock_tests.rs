//! Oplock-specific break rules (Samba's behaviour, smbtorture smb2.oplock):
//! self-breaks of level II, deletes, and stat opens.

use std::sync::Mutex as StdMutex;

use super::*;

#[derive(Default)]
struct Rec(StdMutex<Vec<Notice>>);

impl BreakSink for Rec {
    fn send(&self, n: &Notice) {
        self.0.lock().unwrap().push(*n);
    }
}

fn req(state: u32) -> Request {
    Request {
        state,
        v2: None,
        stat: false,
    }
}

fn lease(k: u8) -> Holder {
    Holder::Lease {
        client_guid: [k; 16],
        key: [k; 16],
    }
}

#[test]
fn a_write_through_a_level_two_open_breaks_it_and_the_others_to_none() {
    let mut f = FileGrants::default();
    let s = Arc::new(Rec::default());
    f.register(Holder::Open(1), 1, s.clone(), req(R));
    f.register(Holder::Open(2), 2, s.clone(), req(RWH));
    assert_eq!(f.grants[1].state, R);
    let (n, pending) = f.begin_op(Some(Holder::Open(1)), Some(1), Op::Write, false);
    assert!(!pending);
    assert_eq!(n.len(), 2, "the writer's own level II and the other's");
    assert!(n.iter().all(|(_, n)| n.new == 0 && !n.ack_required));
    assert!(f.grants.iter().all(|g| g.state == 0));
    // Nothing left: a second write sends nothing.
    let (n, _) = f.begin_op(Some(Holder::Open(1)), Some(1), Op::Write, false);
    assert!(n.is_empty());
}

#[test]
fn own_batch_oplock_and_own_read_lease_survive_own_write() {
    let mut f = FileGrants::default();
    let s = Arc::new(Rec::default());
    f.register(Holder::Open(1), 1, s.clone(), req(RWH));
    let (n, _) = f.begin_op(Some(Holder::Open(1)), Some(1), Op::Write, false);
    assert!(n.is_empty());
    assert_eq!(f.grants[0].state, RWH);

    let mut f = FileGrants::default();
    f.register(lease(1), 1, s.clone(), req(R));
    f.register(Holder::Open(2), 2, s.clone(), req(0));
    let (n, _) = f.begin_op(Some(lease(1)), Some(1), Op::Write, false);
    assert!(n.is_empty(), "leases are not self-broken");
    // Reads break no level II.
    let mut f = FileGrants::default();
    f.register(Holder::Open(1), 1, s.clone(), req(R));
    let (n, _) = f.begin_op(Some(Holder::Open(1)), Some(1), Op::Read, false);
    assert!(n.is_empty());
}

#[test]
fn an_smb_delete_spares_read_caching_but_an_nfs_remove_does_not() {
    let s = Arc::new(Rec::default());
    let mut f = FileGrants::default();
    f.register(Holder::Open(1), 1, s.clone(), req(R));
    f.register(lease(2), 2, s.clone(), req(R));
    // Samba breaks neither a level II oplock (smb2.oplock.exclusive2) nor the
    // read caching of a lease (smb2.lease.unlink: RH to R) at an SMB delete.
    let (n, _) = f.begin_op(Some(Holder::Open(3)), Some(3), Op::Remove, false);
    assert!(n.is_empty());
    assert_eq!(f.grants[0].state, R, "level II oplock kept");
    assert_eq!(f.grants[1].state, R, "read lease kept");
    let (n, _) = f.begin_op(None, None, Op::Remove, true);
    assert_eq!(n.len(), 2);
    assert_eq!(f.grants[0].state, 0, "an NFS remove breaks the oplock");
    assert_eq!(f.grants[1].state, 0, "and the lease");
}

#[test]
fn a_read_control_open_breaks_oplocks_but_not_leases() {
    let s = Arc::new(Rec::default());
    let mut f = FileGrants::default();
    f.register(Holder::Open(1), 1, s.clone(), req(RWH));
    f.register(lease(2), 2, s.clone(), req(R | H));
    let lease_state = f.grants[1].state;
    assert_ne!(lease_state, 0);
    let (n, pending) = f.begin_op(Some(Holder::Open(3)), Some(3), Op::OplockOpen, false);
    assert!(pending);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].1.current, RWH);
    assert_eq!(f.grants[0].breaking_to, Some(R));
    assert_eq!(f.grants[1].state, lease_state);
    assert_eq!(f.grants[1].breaking_to, None);
}
