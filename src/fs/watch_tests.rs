use super::*;

fn ev(rel: &[u8], action: u32, kind: u32) -> Event<'_> {
    Event {
        rel,
        action,
        kind,
        merge: Merge::Normal,
    }
}

fn changes(t: Taken) -> Vec<(u32, Vec<u8>)> {
    match t {
        Taken::Ready(Outcome::Changes(c)) => c.into_iter().map(|c| (c.action, c.name)).collect(),
        other => panic!("changes expected, got {other:?}"),
    }
}

#[test]
fn buffer_wait_filter_overflow() {
    let r = WatchRegistry::default();
    assert!(!r.active());
    r.deliver(1, 10, &ev(b"x", action::ADDED, filter::FILE_NAME), true);
    let w = r.register(1, 10, filter::FILE_NAME, false, 1000);
    assert!(r.active());
    let Taken::Wait(rx) = r.take(w) else {
        panic!("nothing was buffered")
    };
    r.deliver(1, 10, &ev(b"d", action::ADDED, filter::DIR_NAME), true);
    r.deliver(
        1,
        11,
        &ev(b"other dir", action::ADDED, filter::FILE_NAME),
        true,
    );
    r.deliver(
        2,
        10,
        &ev(b"other share", action::ADDED, filter::FILE_NAME),
        true,
    );
    r.deliver(
        1,
        10,
        &ev(b"sub/deep", action::ADDED, filter::FILE_NAME),
        false,
    );
    r.deliver(1, 10, &ev(b"a", action::ADDED, filter::FILE_NAME), true);
    let got = futures_lite::future::block_on(rx).expect("delivered");
    assert_eq!(
        got,
        Outcome::Changes(vec![Change {
            action: action::ADDED,
            name: b"a".to_vec()
        }])
    );
    r.deliver(1, 10, &ev(b"a", action::REMOVED, filter::FILE_NAME), true);
    r.deliver(1, 10, &ev(b"b", action::ADDED, filter::FILE_NAME), true);
    assert_eq!(
        changes(r.take(w)),
        vec![
            (action::REMOVED, b"a".to_vec()),
            (action::ADDED, b"b".to_vec())
        ]
    );
    for i in 0..=BUFFERED_MAX {
        let name = format!("f{i}");
        r.deliver(1, 10, &ev(name.as_bytes(), 1, filter::FILE_NAME), true);
    }
    assert!(matches!(r.take(w), Taken::Ready(Outcome::Overflow)));
    assert!(matches!(r.take(w), Taken::Wait(_)));
    r.unregister(w);
    assert!(!r.active());
    assert!(matches!(r.take(w), Taken::Gone));
}

#[test]
fn waiters_are_served_oldest_first_and_cancelled_ones_skipped() {
    let r = WatchRegistry::default();
    let w = r.register(1, 10, filter::DIR_NAME, true, 1000);
    let Taken::Wait(gone) = r.take(w) else {
        panic!()
    };
    let Taken::Wait(first) = r.take(w) else {
        panic!()
    };
    let Taken::Wait(second) = r.take(w) else {
        panic!()
    };
    drop(gone);
    r.deliver(1, 10, &ev(b"d1", action::ADDED, filter::DIR_NAME), true);
    r.deliver(1, 10, &ev(b"x/d2", action::ADDED, filter::DIR_NAME), false);
    let one = futures_lite::future::block_on(first).expect("first");
    let two = futures_lite::future::block_on(second).expect("second");
    assert_eq!(
        one,
        Outcome::Changes(vec![Change {
            action: action::ADDED,
            name: b"d1".to_vec()
        }])
    );
    assert_eq!(
        two,
        Outcome::Changes(vec![Change {
            action: action::ADDED,
            name: b"x/d2".to_vec()
        }])
    );
}

#[test]
fn modifications_coalesce_until_collected() {
    let r = WatchRegistry::default();
    let w = r.register(1, 10, filter::LAST_WRITE | filter::FILE_NAME, false, 1000);
    assert!(matches!(r.take(w), Taken::Wait(_)));
    // The waiting request takes the first write; the rest buffer and merge.
    r.deliver(1, 10, &ev(b"f", action::MODIFIED, filter::LAST_WRITE), true);
    for _ in 0..100 {
        r.deliver(1, 10, &ev(b"f", action::MODIFIED, filter::LAST_WRITE), true);
        r.deliver(1, 10, &ev(b"g", action::MODIFIED, filter::LAST_WRITE), true);
    }
    r.deliver(1, 10, &ev(b"f", action::REMOVED, filter::FILE_NAME), true);
    r.deliver(1, 10, &ev(b"f", action::ADDED, filter::FILE_NAME), true);
    r.deliver(1, 10, &ev(b"f", action::MODIFIED, filter::LAST_WRITE), true);
    let implied = Event {
        merge: Merge::Implied,
        ..ev(b"f", action::MODIFIED, filter::LAST_WRITE)
    };
    r.deliver(1, 10, &implied, true);
    assert_eq!(
        changes(r.take(w)),
        vec![
            (action::MODIFIED, b"f".to_vec()),
            (action::MODIFIED, b"g".to_vec()),
            (action::REMOVED, b"f".to_vec()),
            (action::ADDED, b"f".to_vec()),
            (action::MODIFIED, b"f".to_vec()),
        ]
    );
    // An implied change right after a change of the same entry is dropped.
    r.deliver(1, 10, &ev(b"n", action::ADDED, filter::FILE_NAME), true);
    let implied_n = Event {
        rel: b"n",
        ..implied
    };
    r.deliver(1, 10, &implied_n, true);
    assert_eq!(changes(r.take(w)), vec![(action::ADDED, b"n".to_vec())]);
}

#[test]
fn removed_directory_completes_waiters_with_delete_pending() {
    let r = WatchRegistry::default();
    let w = r.register(1, 10, filter::FILE_NAME, false, 1000);
    let Taken::Wait(rx) = r.take(w) else { panic!() };
    r.dir_removed(1, 11);
    r.dir_removed(1, 10);
    assert_eq!(
        futures_lite::future::block_on(rx).expect("completed"),
        Outcome::DeletePending
    );
    assert!(matches!(r.take(w), Taken::Ready(Outcome::DeletePending)));
}

#[test]
fn names_kept_only_while_watched() {
    let r = WatchRegistry::default();
    r.learn(1, 5, 2, b"f");
    assert_eq!(r.location(1, 5), None, "nothing kept while unwatched");
    let w = r.register(1, 2, filter::SIZE, true, 1000);
    assert!(r.has_recursive(1));
    assert!(!r.has_recursive(2));
    r.learn(1, 5, 2, b"f");
    assert_eq!(r.location(1, 5), Some((2, b"f".to_vec())));
    r.forget(1, 5);
    assert_eq!(r.location(1, 5), None);
    r.learn(1, 5, 2, b"f");
    r.unregister(w);
    assert!(!r.has_recursive(1));
    let _w = r.register(1, 2, filter::SIZE, false, 1000);
    assert_eq!(r.location(1, 5), None, "dropped with the last watch");
}

#[test]
fn unregister_drops_waiter_from_another_thread() {
    let r = std::sync::Arc::new(WatchRegistry::default());
    let w = r.register(1, 1, filter::FILE_NAME, false, 1000);
    let Taken::Wait(rx) = r.take(w) else { panic!() };
    let r2 = r.clone();
    std::thread::spawn(move || r2.unregister(w)).join().unwrap();
    assert!(
        futures_lite::future::block_on(rx).is_err(),
        "sender dropped"
    );
}

#[test]
fn rename_pair_completes_a_waiter_together() {
    let r = WatchRegistry::default();
    let w = r.register(1, 10, filter::FILE_NAME, false, 1000);
    let Taken::Wait(rx) = r.take(w) else { panic!() };
    r.deliver(
        1,
        10,
        &ev(b"old", action::RENAMED_OLD_NAME, filter::FILE_NAME),
        true,
    );
    r.deliver(
        1,
        10,
        &ev(b"new", action::RENAMED_NEW_NAME, filter::FILE_NAME),
        true,
    );
    let got = futures_lite::future::block_on(rx).expect("completed");
    assert_eq!(
        got,
        Outcome::Changes(vec![
            Change {
                action: action::RENAMED_OLD_NAME,
                name: b"old".to_vec()
            },
            Change {
                action: action::RENAMED_NEW_NAME,
                name: b"new".to_vec()
            }
        ])
    );
}
