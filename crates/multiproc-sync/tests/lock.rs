//! `Lock` across real processes: exclusion, owner death, timeouts, sharing by fd and name.

use multiproc_internal::fdpass::{recv_fds, send_fds};
use multiproc_internal::testing::{
    fork_child, reexec, reexec_role, shm_names, test_name, until_asleep, wait_child, ChildExit,
    ForkChild,
};
use multiproc_shm::{Atomic, RawValue};
use multiproc_sync::{Event, Lock, LockError, TryLockError};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A child that takes `lock`, says so, and waits to be killed.
fn holder(lock: &Lock) -> ForkChild {
    let ready = Event::new().unwrap();
    let child = fork_child(|| {
        let _g = lock.lock().unwrap();
        ready.set();
        loop {
            std::thread::park();
        }
    });
    assert!(
        ready.wait_timeout(Duration::from_secs(20)),
        "holder never locked"
    );
    child
}

#[test]
fn four_processes_exact_total_and_one_holder_at_a_time() {
    const N: u64 = 100_000;
    let lock = Lock::new().unwrap();
    // A plain (non-atomic) read-modify-write: only the lock keeps it exact.
    let counter = RawValue::new(0u64).unwrap();
    let inside = Atomic::new(0u32).unwrap();
    let kids: Vec<_> = (0..4)
        .map(|_| {
            fork_child(|| {
                for _ in 0..N {
                    let _g = lock.lock().unwrap();
                    assert_eq!(inside.swap(1, Ordering::AcqRel), 0, "two holders at once");
                    counter.set(counter.get() + 1);
                    inside.store(0, Ordering::Release);
                }
            })
        })
        .collect();
    for k in kids {
        k.assert_success();
    }
    assert_eq!(counter.get(), 4 * N);
    assert!(!lock.is_locked());
}

#[test]
fn try_lock_and_same_thread_relock() {
    let lock = Lock::new().unwrap();
    let g = lock.lock().unwrap();
    assert!(matches!(lock.lock(), Err(LockError::WouldDeadlock)));
    fork_child(|| {
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    })
    .assert_success();
    drop(g);
    fork_child(|| {
        let g = lock.try_lock().unwrap();
        assert!(g.is_consistent());
    })
    .assert_success();
    assert!(!lock.is_locked());
}

#[test]
fn lock_timeout_holds_while_another_process_holds_it() {
    let lock = Lock::new().unwrap();
    let holder = holder(&lock);
    let start = Instant::now();
    assert!(matches!(
        lock.lock_timeout(Duration::from_millis(200)),
        Err(TryLockError::Timeout)
    ));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "{took:?}"
    );
    let start = Instant::now();
    assert!(matches!(
        lock.lock_deadline(start + Duration::from_millis(100)),
        Err(TryLockError::Timeout)
    ));
    assert!(start.elapsed() >= Duration::from_millis(100));
    holder.kill().unwrap();
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
}

#[test]
fn killed_holder_is_reported_to_the_next_locker_within_100ms() {
    let lock = Lock::new().unwrap();
    let holder = holder(&lock);
    holder.kill().unwrap();
    let killed = Instant::now();
    let mut g = match lock.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    let took = killed.elapsed();
    assert!(took < Duration::from_millis(100), "took {took:?}");
    assert!(!g.is_consistent());
    g.make_consistent();
    drop(g);
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
    // Repaired: usable by everyone, no further report.
    fork_child(|| drop(lock.lock().unwrap())).assert_success();
    assert!(lock.try_lock().is_ok());
}

#[test]
fn killed_holder_with_blocked_waiters_one_learns_it_and_all_proceed() {
    let lock = Lock::new().unwrap();
    let died_seen = Atomic::new(0u32).unwrap();
    let passed = Atomic::new(0u32).unwrap();
    let told = Event::new().unwrap();
    let holder = holder(&lock);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            fork_child(|| {
                let g = match lock.lock() {
                    Ok(g) => g,
                    Err(LockError::OwnerDied(mut g)) => {
                        died_seen.fetch_add(1, Ordering::AcqRel);
                        told.set();
                        g.make_consistent();
                        g
                    }
                    Err(e) => panic!("{e:?}"),
                };
                passed.fetch_add(1, Ordering::AcqRel);
                drop(g);
            })
        })
        .collect();
    for w in &waiters {
        until_asleep(w.pid());
    }
    holder.kill().unwrap();
    let killed = Instant::now();
    assert!(told.wait_timeout(Duration::from_secs(20)));
    let took = killed.elapsed();
    assert!(took < Duration::from_millis(100), "took {took:?}");
    for w in waiters {
        w.assert_success();
    }
    assert_eq!(
        died_seen.load(Ordering::Acquire),
        1,
        "exactly one waiter is told"
    );
    assert_eq!(passed.load(Ordering::Acquire), 3);
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
}

#[test]
fn unrepaired_owner_death_makes_it_not_recoverable_for_every_waiter_at_once() {
    let lock = Lock::new().unwrap();
    let holder = holder(&lock);
    // Waiters already blocked when it becomes not recoverable fail too, without hanging.
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            fork_child(|| loop {
                match lock.lock() {
                    Err(LockError::NotRecoverable) => return,
                    // One of us may be the one told of the death: leave it unrepaired.
                    Err(LockError::OwnerDied(g)) => drop(g),
                    other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    for w in &waiters {
        until_asleep(w.pid());
    }
    holder.kill().unwrap();
    for w in waiters {
        w.assert_success();
    }
    assert!(lock.is_not_recoverable());
    let start = Instant::now();
    assert!(matches!(lock.lock(), Err(LockError::NotRecoverable)));
    assert!(matches!(
        lock.lock_timeout(Duration::from_secs(5)),
        Err(TryLockError::Lock(LockError::NotRecoverable))
    ));
    assert!(start.elapsed() < Duration::from_millis(100));
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
}

#[test]
fn handed_over_by_fd() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let lock = Lock::new().unwrap();
    let g = lock.lock().unwrap();
    // A child forked before the lock existed gets it by fd.
    let child = fork_child(|| {
        let mut b = [0u8; 1];
        let (_, mut fds) = recv_fds(theirs.as_fd(), &mut b, 1).unwrap();
        let lock = Lock::from_fd(fds.pop().unwrap()).unwrap();
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        let g = lock.lock_timeout(Duration::from_secs(20)).unwrap();
        drop(g);
    });
    send_fds(ours.as_fd(), b"l", &[lock.as_fd()]).unwrap();
    until_asleep(child.pid());
    drop(g);
    child.assert_success();
    // Not a lock: refused.
    let e = Event::new().unwrap();
    let fd = e.as_fd().try_clone_to_owned().unwrap();
    assert_eq!(
        Lock::from_fd(fd).unwrap_err().kind(),
        std::io::ErrorKind::InvalidData
    );
}

const NAMED: &str = "named_lock_from_an_unrelated_process";

#[test]
fn named_lock_from_an_unrelated_process() {
    if let Some(role) = reexec_role() {
        let lock = Lock::open(&std::env::var("LOCK_NAME").unwrap()).unwrap();
        match role.as_str() {
            "held" => assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock))),
            "free" => drop(lock.try_lock().unwrap()),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let name = test_name("lock");
    let lock = Lock::create_named(&name).unwrap();
    assert_eq!(lock.name(), Some(name.as_str()));
    let g = lock.lock().unwrap();
    let mut child = reexec(NAMED, "held")
        .env("LOCK_NAME", &name)
        .spawn()
        .unwrap();
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    drop(g);
    let mut child = reexec(NAMED, "free")
        .env("LOCK_NAME", &name)
        .spawn()
        .unwrap();
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    assert_eq!(
        Lock::create_named(&name).unwrap_err().kind(),
        std::io::ErrorKind::AlreadyExists
    );
    // Another kind under the name is refused.
    assert_eq!(
        multiproc_sync::RLock::open(&name).unwrap_err().kind(),
        std::io::ErrorKind::InvalidData
    );
    drop(lock);
    assert!(shm_names(&name).is_empty(), "the creator unlinks the name");
    assert_eq!(
        Lock::open(&name).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}
