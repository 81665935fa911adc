//! Grant and break rules of the lease table, and the cross-core wait.

use std::sync::Mutex as StdMutex;

use super::*;

#[derive(Default)]
struct Rec(StdMutex<Vec<Notice>>);

impl BreakSink for Rec {
    fn send(&self, n: &Notice) {
        self.0.lock().unwrap().push(*n);
    }
}

impl Rec {
    fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn lease(k: u8) -> Holder {
    Holder::Lease {
        client_guid: [k; 16],
        key: [k; 16],
    }
}

fn req(state: u32) -> Request {
    Request {
        state,
        v2: None,
        stat: false,
    }
}

#[test]
fn sole_open_gets_rwh_then_another_open_breaks_w_with_ack() {
    let mut f = FileGrants::default();
    let a = Arc::new(Rec::default());
    let g = f.register(lease(1), 1, a.clone(), req(RWH));
    assert_eq!(g.state, RWH);
    let (n, pending) = f.begin(Some(lease(2)), Some(2), Op::Open.keep(false));
    assert!(pending);
    assert_eq!(n.len(), 1);
    assert_eq!(
        n[0].1,
        Notice {
            current: RWH,
            new: R | H,
            epoch: 0,
            ack_required: true
        }
    );
    // Still pending, and no second notice, until acknowledged.
    let (n, pending) = f.begin(Some(lease(2)), Some(2), Op::Open.keep(false));
    assert!(pending && n.is_empty());
    assert_eq!(f.ack(lease(1), RWH).map(|a| a.0), Err(AckError::TooMuch));
    assert_eq!(f.ack(lease(1), R | H).map(|a| a.0), Ok(R | H));
    assert_eq!(f.ack(lease(1), R).map(|a| a.0), Err(AckError::NotBreaking));
    let (n, pending) = f.begin(Some(lease(2)), Some(2), Op::Open.keep(false));
    assert!(!pending && n.is_empty());
    // The second client gets no W next to the first.
    let b = Arc::new(Rec::default());
    assert_eq!(f.register(lease(2), 2, b, req(RWH)).state, R | H);
}

#[test]
fn read_only_break_needs_no_ack_and_v2_epoch_moves() {
    let mut f = FileGrants::default();
    let a = Arc::new(Rec::default());
    let g = f.register(
        lease(1),
        1,
        a.clone(),
        Request {
            state: R,
            v2: Some(([0; 16], 0x4711)),
            stat: false,
        },
    );
    assert_eq!((g.state, g.epoch), (R, 0x4712));
    let (n, pending) = f.begin(None, None, Op::Write.keep(true));
    assert!(!pending);
    assert_eq!(
        n[0].1,
        Notice {
            current: R,
            new: 0,
            epoch: 0x4713,
            ack_required: false
        }
    );
}

#[test]
fn oplocks_batch_to_level_two_on_open_and_exclusive_survives_smb_rename() {
    let mut f = FileGrants::default();
    let s = Arc::new(Rec::default());
    assert_eq!(
        f.register(Holder::Open(1), 1, s.clone(), req(RWH)).state,
        RWH
    );
    let (n, pending) = f.begin(Some(Holder::Open(2)), Some(2), Op::Open.keep(false));
    assert!(pending);
    assert_eq!((n[0].1.new, n[0].1.ack_required), (R, true));
    assert_eq!(f.ack(Holder::Open(1), R).map(|a| a.0), Ok(R));
    // Level II next to level II.
    assert_eq!(f.register(Holder::Open(2), 2, s.clone(), req(RWH)).state, R);
    // A write by open 2 takes level II from open 1 without an ack.
    let (n, pending) = f.begin(Some(Holder::Open(2)), Some(2), Op::Write.keep(false));
    assert!(!pending);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].1.new, 0);

    let mut f = FileGrants::default();
    assert_eq!(
        f.register(Holder::Open(3), 1, s.clone(), req(R | W)).state,
        R | W
    );
    let (n, _) = f.begin(None, Some(9), Op::Rename.keep(false));
    assert!(n.is_empty(), "exclusive has no handle caching to lose");
    // A wrong level in the ack ends the oplock.
    let (n, _) = f.begin(None, None, Op::Remove.keep(true));
    assert_eq!(n[0].1.new, 0);
    assert_eq!(
        f.ack(Holder::Open(3), R).map(|a| a.0),
        Err(AckError::TooMuch)
    );
    assert_eq!(f.grants[0].state, 0);
}

#[test]
fn own_connection_is_not_waited_for_and_unregister_empties() {
    let mut f = FileGrants::default();
    let s = Arc::new(Rec::default());
    f.register(lease(1), 7, s.clone(), req(RWH));
    let (n, pending) = f.begin(Some(lease(2)), Some(7), Op::Open.keep(false));
    assert_eq!(n.len(), 1);
    assert!(!pending);
    // Same lease key: a second open shares the grant and sees the break in progress.
    let g = f.register(lease(1), 7, s.clone(), req(RWH));
    assert!(g.breaking);
    assert!(!f.unregister(lease(1), 7));
    assert!(f.unregister(lease(1), 7));
}

#[test]
fn breaks_go_to_the_oldest_connection_still_holding_the_lease() {
    let mut f = FileGrants::default();
    let a = Arc::new(Rec::default());
    let b = Arc::new(Rec::default());
    f.register(lease(1), 1, a.clone(), req(RWH));
    f.register(lease(1), 2, b.clone(), req(RWH));
    assert!(!f.unregister(lease(1), 2));
    let (n, _) = f.begin(None, None, Op::Write.keep(true));
    assert_eq!(n.len(), 1);
    assert_eq!(f.grants[0].conn, 1, "the break goes to connection 1");
    f.register(lease(1), 2, b.clone(), req(RWH));
    assert!(!f.unregister(lease(1), 1));
    assert_eq!(f.grants[0].conn, 2, "connection 1 closed its open: now 2");
}

#[test]
fn upgrades_next_to_other_openers_and_stat_opens() {
    let mut f = FileGrants::default();
    let s = Arc::new(Rec::default());
    f.register(lease(1), 1, s.clone(), req(R));
    f.register(lease(2), 1, s.clone(), req(R));
    // RHW is not shareable (W), so nothing changes; RH is, so it is granted.
    assert_eq!(f.register(lease(1), 1, s.clone(), req(RWH)).state, R);
    assert_eq!(f.register(lease(1), 1, s.clone(), req(R | H)).state, R | H);
    // An oplock next to an H lease gets none.
    assert_eq!(f.register(Holder::Open(9), 1, s.clone(), req(RWH)).state, 0);
    // A stat open does not keep a lease from getting W.
    let mut g = FileGrants::default();
    let stat = Request {
        state: 0,
        v2: None,
        stat: true,
    };
    g.register(Holder::Open(5), 1, s.clone(), stat);
    assert_eq!(g.register(lease(3), 1, s.clone(), req(RWH)).state, RWH);
}

#[test]
fn break_waits_for_an_ack_from_another_thread() {
    let file = (999, 4242);
    let sink = Arc::new(Rec::default());
    let (tok, g) = table()
        .register(file, lease(5), 1, sink.clone(), req(RWH))
        .unwrap();
    // The key names this file now; another file refuses it until it is closed.
    assert!(table()
        .register((999, 4243), lease(5), 1, sink.clone(), req(R))
        .is_err());
    assert_eq!(g.state, RWH);
    let acker = std::thread::spawn(move || {
        for _ in 0..2000 {
            if table().ack(file, lease(5), R | H).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    });
    let t0 = Instant::now();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            table()
                .break_and_wait(file, None, Op::Read, Duration::from_secs(30))
                .await;
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(acker.join().unwrap());
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(table().state(file, lease(5)), Some((R | H, None)));
    assert_eq!(sink.take().len(), 1);
    // Unacknowledged: the bound passes and the grant loses its caching. (A
    // remove waits for handle caching; a write would not, RH has no W.)
    let other = Origin {
        holder: lease(6),
        conn: 2,
        parent_key: None,
    };
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            table()
                .break_and_wait(file, Some(other), Op::Remove, Duration::from_millis(20))
                .await;
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(table().state(file, lease(5)), Some((0, None)));
    drop(tok);
    assert_eq!(table().state(file, lease(5)), None);
    let (tok, _) = table()
        .register((999, 4243), lease(5), 1, sink, req(R))
        .unwrap();
    drop(tok);
}

#[test]
fn upgrade_only_to_a_requested_superset_and_leases_next_to_oplocks_read_only() {
    let mut f = FileGrants::default();
    let s = Arc::new(Rec::default());
    assert_eq!(f.register(lease(1), 1, s.clone(), req(R | H)).state, R | H);
    assert_eq!(f.register(lease(1), 1, s.clone(), req(R | W)).state, R | H);
    assert_eq!(f.register(lease(1), 1, s.clone(), req(RWH)).state, RWH);
    let mut f = FileGrants::default();
    assert_eq!(f.register(Holder::Open(1), 1, s.clone(), req(R)).state, R);
    assert_eq!(f.register(lease(2), 2, s, req(RWH)).state, R);
}

fn create(op: Op, first: bool) -> Wait {
    Wait::Create(CreateWait {
        first,
        delay: op.delay_mask(),
    })
}

#[test]
fn breaks_during_a_break_follow_the_ack_in_steps() {
    // smbtorture smb2.lease.breaking3: RWH broken to RH by an open; an overwrite
    // during that break sends nothing, and the acknowledgments step RH, R, none.
    let mut f = FileGrants::default();
    let a = Arc::new(Rec::default());
    let mut v2 = req(RWH);
    v2.v2 = Some(([0; 16], 0x11));
    f.register(lease(1), 1, a.clone(), v2);
    let keep_open = Op::Open.keep(false);
    let (n, pending) = f.begin_with(None, None, |_| keep_open, create(Op::Open, true));
    assert!(pending, "write caching is broken: the open waits");
    assert_eq!(
        (n[0].1.current, n[0].1.new, n[0].1.epoch),
        (RWH, R | H, 0x13)
    );
    let (n, pending) = f.begin_with(None, None, |_| 0, create(Op::Write, true));
    assert!(
        n.is_empty() && pending,
        "no second notice; RWH still cached"
    );
    let (acked, next) = f.ack(lease(1), R | H).unwrap();
    assert_eq!(acked, R | H);
    let next = next.expect("a break to R follows").1;
    assert_eq!((next.current, next.new, next.epoch), (R | H, R, 0x13));
    assert!(next.ack_required);
    // A retry waits while the lease is breaking, even needing nothing from it.
    let (n, pending) = f.begin_with(None, None, |_| keep_open, create(Op::Open, false));
    assert!(n.is_empty() && pending);
    let (_, next) = f.ack(lease(1), R).unwrap();
    let next = next.expect("then to none").1;
    assert_eq!((next.current, next.new, next.ack_required), (R, 0, false));
    assert_eq!(f.grants[0].state, 0);
    let (_, pending) = f.begin_with(None, None, |_| 0, create(Op::Write, false));
    assert!(!pending);
}

#[test]
fn an_overwrite_does_not_wait_for_a_handle_caching_break() {
    // smbtorture smb2.lease.breaking4: RH broken to none, the open goes on.
    let mut f = FileGrants::default();
    let a = Arc::new(Rec::default());
    f.register(lease(1), 1, a.clone(), req(R | H));
    let (n, pending) = f.begin_with(None, None, |_| 0, create(Op::Write, true));
    assert_eq!(n.len(), 1);
    assert!(!pending);
    assert_eq!(f.grants[0].breaking_to, Some(0));
    let (n, pending) = f.begin_with(None, None, |_| 0, create(Op::Write, true));
    assert!(
        n.is_empty() && !pending,
        "breaking already: a first try goes on"
    );
    // A sharing violation waits for handle caching.
    let (_, pending) = f.begin_with(
        None,
        None,
        |_| Op::Sharing.keep(false),
        create(Op::Sharing, true),
    );
    assert!(pending);
    assert_eq!(f.ack(lease(1), 0).map(|a| a.0), Ok(0));
}

#[test]
fn an_unacknowledged_break_leaves_no_caching_and_smb_delete_keeps_read() {
    let mut f = FileGrants::default();
    let a = Arc::new(Rec::default());
    f.register(lease(1), 1, a.clone(), req(RWH));
    f.begin(None, None, Op::Open.keep(false));
    f.force(None);
    assert_eq!(f.grants[0].state, 0);
    assert_eq!(
        f.ack(lease(1), R | H).map(|a| a.0),
        Err(AckError::NotBreaking)
    );
    let mut f = FileGrants::default();
    f.register(lease(1), 1, a.clone(), req(R | H));
    let (n, _) = f.begin(None, None, Op::Remove.keep(false));
    assert_eq!(n[0].1.new, R, "an SMB delete breaks handle caching only");
    let mut f = FileGrants::default();
    f.register(lease(1), 1, a, req(R | H));
    let (n, _) = f.begin(None, None, Op::Remove.keep(true));
    assert_eq!(n[0].1.new, 0, "an NFS remove breaks everything");
}

#[test]
fn a_v1_open_of_a_v2_lease_is_answered_as_v2() {
    let mut f = FileGrants::default();
    let a = Arc::new(Rec::default());
    let mut v2 = req(R);
    v2.v2 = Some(([0; 16], 0x4711));
    let g = f.register(lease(1), 1, a.clone(), v2);
    assert!(g.v2);
    assert_eq!(g.epoch, 0x4712);
    let g = f.register(lease(1), 1, a, req(R | H));
    assert!(g.v2, "the lease's version, not the request's");
    assert_eq!((g.state, g.epoch), (R | H, 0x4713));
}
