//! `RLock` across real processes and threads: re-entrance per owner, non-owner release,
//! owner death.

use multiproc_internal::testing::{fork_child, ChildExit};
use multiproc_shm::{Atomic, RawValue};
use multiproc_sync::{Event, LockError, RLock, TryLockError};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[test]
fn re_entrant_for_its_owner_exclusive_for_everyone_else() {
    let r = RLock::new().unwrap();
    let a = r.lock().unwrap();
    let b = r.try_lock().unwrap();
    let c = r.lock_timeout(Duration::from_millis(1)).unwrap();
    assert_eq!(r.level(), 3);
    assert!(r.is_owned());
    // Another process and another thread of this one: not the owner.
    fork_child(|| {
        assert!(!r.is_owned());
        assert_eq!(r.level(), 0);
        assert!(matches!(r.try_lock(), Err(TryLockError::WouldBlock)));
    })
    .assert_success();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(!r.is_owned());
            assert!(matches!(
                r.lock_timeout(Duration::from_millis(50)),
                Err(TryLockError::Timeout)
            ));
        });
    });
    // Released only when every level is.
    drop(c);
    drop(a); // out of order is fine: levels are counted, not tied to guards
    assert!(r.is_locked());
    fork_child(|| assert!(matches!(r.try_lock(), Err(TryLockError::WouldBlock)))).assert_success();
    drop(b);
    assert!(!r.is_locked());
    fork_child(|| {
        let _g = r.try_lock().unwrap();
        assert_eq!(r.level(), 1);
    })
    .assert_success();
}

#[test]
fn release_by_a_non_owner_is_an_error() {
    let r = RLock::new().unwrap();
    assert_eq!(r.release(), Err(LockError::NotOwner), "nobody holds it");
    r.acquire().unwrap();
    r.acquire().unwrap();
    fork_child(|| assert_eq!(r.release(), Err(LockError::NotOwner))).assert_success();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(r.release(), Err(LockError::NotOwner));
            assert_eq!(r.make_consistent(), Err(LockError::NotOwner));
        });
    });
    assert_eq!(r.level(), 2, "the failed releases changed nothing");
    r.release().unwrap();
    r.release().unwrap();
    assert_eq!(r.release(), Err(LockError::NotOwner));
    assert!(!r.is_locked());
    // A guard's drop after its level was released explicitly does nothing.
    let g = r.lock().unwrap();
    r.release().unwrap();
    drop(g);
    assert!(!r.is_locked());
}

#[test]
fn four_processes_exact_total_with_nested_levels() {
    const N: u64 = 20_000;
    let r = RLock::new().unwrap();
    let counter = RawValue::new(0u64).unwrap();
    let inside = Atomic::new(0u32).unwrap();
    let kids: Vec<_> = (0..4)
        .map(|_| {
            fork_child(|| {
                for _ in 0..N {
                    let _outer = r.lock().unwrap();
                    assert_eq!(inside.swap(1, Ordering::AcqRel), 0, "two owners at once");
                    {
                        let _inner = r.lock().unwrap();
                        counter.set(counter.get() + 1);
                    }
                    counter.set(counter.get() + 1);
                    inside.store(0, Ordering::Release);
                }
            })
        })
        .collect();
    for k in kids {
        k.assert_success();
    }
    assert_eq!(counter.get(), 4 * 2 * N);
}

/// A child that takes three levels of `r`, says so, and waits to be killed.
fn deep_holder(r: &RLock) -> multiproc_internal::testing::ForkChild {
    let ready = Event::new().unwrap();
    let child = fork_child(|| {
        r.acquire().unwrap();
        let _a = r.lock().unwrap();
        let _b = r.lock().unwrap();
        ready.set();
        loop {
            std::thread::park();
        }
    });
    assert!(ready.wait_timeout(Duration::from_secs(20)));
    child
}

#[test]
fn a_dead_owner_is_reported_once_and_its_levels_do_not_carry_over() {
    let r = RLock::new().unwrap();
    let holder = deep_holder(&r);
    holder.kill().unwrap();
    let mut g = match r.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    assert_eq!(r.level(), 1, "the dead owner's three levels are gone");
    assert!(!g.is_consistent());
    g.make_consistent();
    drop(g);
    assert!(!r.is_locked());
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
    fork_child(|| drop(r.lock().unwrap())).assert_success();
}

#[test]
fn an_unrepaired_death_makes_it_not_recoverable() {
    let r = RLock::new().unwrap();
    let holder = deep_holder(&r);
    holder.kill().unwrap();
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
    // Python style: the level is held despite the error; releasing it unrepaired (even after
    // taking more levels) leaves the lock unusable.
    assert_eq!(r.acquire(), Err(LockError::OwnerDied(())));
    r.acquire().unwrap();
    r.release().unwrap();
    r.release().unwrap();
    fork_child(|| {
        assert!(matches!(r.lock(), Err(LockError::NotRecoverable)));
        assert_eq!(r.acquire(), Err(LockError::NotRecoverable));
    })
    .assert_success();
    assert!(matches!(
        r.try_lock(),
        Err(TryLockError::Lock(LockError::NotRecoverable))
    ));
}

const NAMED: &str = "named_rlock_from_an_unrelated_process_and_by_fd";

#[test]
fn named_rlock_from_an_unrelated_process_and_by_fd() {
    use multiproc_internal::testing::{reexec, reexec_role, shm_names, test_name, wait_child};
    if let Some(role) = reexec_role() {
        assert_eq!(role, "peer");
        let r = RLock::open(&std::env::var("RLOCK_NAME").unwrap()).unwrap();
        // The parent holds two levels: this process is not the owner.
        assert!(matches!(r.try_lock(), Err(TryLockError::WouldBlock)));
        assert_eq!(r.release(), Err(LockError::NotOwner));
        return;
    }
    let name = test_name("rlock");
    let r = RLock::create_named(&name).unwrap();
    let a = r.lock().unwrap();
    let b = r.lock().unwrap();
    let mut child = reexec(NAMED, "peer")
        .env("RLOCK_NAME", &name)
        .spawn()
        .unwrap();
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    assert_eq!(r.level(), 2);
    drop((a, b));
    drop(r);
    assert!(shm_names(&name).is_empty());
    // An anonymous one by fd, into a child forked before it existed.
    use multiproc_internal::fdpass::{recv_fds, send_fds};
    use std::os::fd::AsFd;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let child = fork_child(|| {
        let mut b = [0u8; 1];
        let (_, mut fds) = recv_fds(theirs.as_fd(), &mut b, 1).unwrap();
        let r = RLock::from_fd(fds.pop().unwrap()).unwrap();
        assert!(matches!(r.try_lock(), Err(TryLockError::WouldBlock)));
    });
    let r = RLock::new().unwrap();
    let _g = r.lock().unwrap();
    send_fds(ours.as_fd(), b"r", &[r.as_fd()]).unwrap();
    child.assert_success();
}
