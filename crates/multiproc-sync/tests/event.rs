//! `Event` across real processes.

use multiproc_internal::fdpass::{recv_fds, send_fds};
use multiproc_internal::testing::{
    fork_child, reexec, reexec_role, shm_names, test_name, until_asleep, wait_child,
};
use multiproc_shm::Atomic;
use multiproc_sync::Event;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[test]
fn a_child_waits_for_the_parent_to_set() {
    // The seed program's pattern: the child blocks on an event the parent sets.
    let e = Event::new().unwrap();
    let child = fork_child(|| {
        e.wait();
        assert!(e.is_set());
    });
    until_asleep(child.pid());
    e.set();
    child.assert_success();
}

#[test]
fn one_set_wakes_every_waiter_and_set_then_clear_is_not_missed() {
    let e = Event::new().unwrap();
    let woke = Atomic::new(0u32).unwrap();
    let kids: Vec<_> = (0..3)
        .map(|_| {
            fork_child(|| {
                assert!(e.wait_timeout(Duration::from_secs(20)));
                woke.fetch_add(1, Ordering::AcqRel);
            })
        })
        .collect();
    for k in &kids {
        until_asleep(k.pid());
    }
    // Set and clear at once: the sleepers must still see that a set happened.
    e.set();
    e.clear();
    for k in kids {
        k.assert_success();
    }
    assert_eq!(woke.load(Ordering::Acquire), 3);
    assert!(!e.is_set());
}

#[test]
fn wait_timeout_holds_and_reports() {
    let e = Event::new().unwrap();
    let start = Instant::now();
    assert!(!e.wait_timeout(Duration::from_millis(200)));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "{took:?}"
    );
    let child = fork_child(|| {
        let start = Instant::now();
        assert!(e.wait_timeout(Duration::from_secs(20)));
        assert!(start.elapsed() < Duration::from_secs(10));
    });
    until_asleep(child.pid());
    e.set();
    child.assert_success();
    // Already set: returns at once, true.
    assert!(e.wait_timeout(Duration::ZERO));
    e.clear();
    assert!(!e.wait_timeout(Duration::ZERO));
}

#[test]
fn handed_over_by_fd() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let child = fork_child(|| {
        let mut b = [0u8; 1];
        let (_, mut fds) = recv_fds(theirs.as_fd(), &mut b, 1).unwrap();
        let e = Event::from_fd(fds.pop().unwrap()).unwrap();
        e.set();
    });
    let e = Event::new().unwrap();
    send_fds(ours.as_fd(), b"e", &[e.as_fd()]).unwrap();
    assert!(e.wait_timeout(Duration::from_secs(20)));
    child.assert_success();
}

const NAMED: &str = "named_event_from_an_unrelated_process";

#[test]
fn named_event_from_an_unrelated_process() {
    if let Some(role) = reexec_role() {
        assert_eq!(role, "peer");
        let e = Event::open(&std::env::var("EVENT_NAME").unwrap()).unwrap();
        assert!(e.is_set());
        e.clear();
        return;
    }
    let name = test_name("event");
    let e = Event::create_named(&name).unwrap();
    e.set();
    let mut child = reexec(NAMED, "peer")
        .env("EVENT_NAME", &name)
        .spawn()
        .unwrap();
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    assert!(!e.is_set(), "the peer cleared it");
    drop(e);
    assert!(shm_names(&name).is_empty());
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Event>();
    send_sync::<multiproc_sync::Barrier>();
    send_sync::<multiproc_sync::BrokenBarrier>();
}
