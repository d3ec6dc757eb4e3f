//! `Condition` across real processes, with `Lock`, `RLock` and shm `Value` locks: no lost
//! wake-ups, `notify(n)`, timeouts that hold, dead notifiers and holders, signals.

use multiproc_internal::testing::{
    fork_child, reexec, reexec_role, shm_names, test_name, until_asleep, wait_child, wait_until,
    ChildExit,
};
use multiproc_shm::{Atomic, RawValue, Value};
use multiproc_signal::{Signal, SignalCounter};
use multiproc_sync::{Condition, Event, Lock, LockError, RLock};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

#[test]
fn ping_pong_of_ten_thousand_turns_loses_no_wake_up() {
    // Two processes hand a turn back and forth; a single lost notify stalls both until the
    // 20 s timeout, which fails the test.
    const TURNS: u32 = 10_000;
    let lock = Lock::new().unwrap();
    let cond = Condition::new().unwrap();
    let turn = RawValue::new(0u32).unwrap();
    let player = |me: u32| {
        let mut g = lock.lock().unwrap();
        for i in 0..TURNS {
            let (g2, ok) = cond
                .wait_timeout_while(g, LONG, |_| turn.get() % 2 != me)
                .unwrap();
            g = g2;
            assert!(ok, "turn {i} of player {me} never came");
            turn.set(turn.get() + 1);
            cond.notify_one();
        }
    };
    let a = fork_child(|| player(0));
    let b = fork_child(|| player(1));
    a.assert_success();
    b.assert_success();
    assert_eq!(turn.get(), 2 * TURNS);
}

#[test]
fn notify_all_wakes_every_waiter_and_notify_n_wakes_n() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new().unwrap();
    let registered = Atomic::new(0u32).unwrap();
    let notified = Atomic::new(0u32).unwrap();
    let spawn_waiters = |timeout: Duration| -> Vec<_> {
        (0..3)
            .map(|_| {
                fork_child(|| {
                    let g = lock.lock().unwrap();
                    registered.fetch_add(1, Ordering::AcqRel);
                    let (_g, woke) = cond.wait_timeout(g, timeout).unwrap();
                    if woke {
                        notified.fetch_add(1, Ordering::AcqRel);
                    }
                })
            })
            .collect()
    };
    // Every waiter has released the lock once the parent holds it; then wait until all
    // sleep on the condition.
    let all_asleep = |kids: &[multiproc_internal::testing::ForkChild]| {
        wait_until("three waiters", || registered.load(Ordering::Acquire) == 3);
        let g = lock.lock().unwrap();
        for k in kids {
            until_asleep(k.pid());
        }
        g
    };

    let kids = spawn_waiters(LONG);
    let g = all_asleep(&kids);
    cond.notify_all();
    drop(g);
    for k in kids {
        k.assert_success();
    }
    assert_eq!(notified.load(Ordering::Acquire), 3);

    registered.store(0, Ordering::Release);
    notified.store(0, Ordering::Release);
    let kids = spawn_waiters(Duration::from_secs(3));
    let g = all_asleep(&kids);
    cond.notify(2);
    drop(g);
    for k in kids {
        k.assert_success();
    }
    assert_eq!(notified.load(Ordering::Acquire), 2, "the third timed out");
}

#[test]
fn wait_timeout_holds_and_returns_with_the_lock_held() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new().unwrap();
    let g = lock.lock().unwrap();
    let start = Instant::now();
    let (g, notified) = cond.wait_timeout(g, Duration::from_millis(200)).unwrap();
    let took = start.elapsed();
    assert!(!notified);
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "{took:?}"
    );
    // The lock is held again.
    fork_child(|| assert!(lock.try_lock().is_err())).assert_success();
    let start = Instant::now();
    let (g, satisfied) = cond
        .wait_timeout_while(g, Duration::from_millis(150), |_| true)
        .unwrap();
    assert!(!satisfied);
    assert!(start.elapsed() >= Duration::from_millis(150));
    let (g, notified) = cond
        .wait_deadline(g, Instant::now() + Duration::from_millis(50))
        .unwrap();
    assert!(!notified);
    drop(g);
    assert!(!lock.is_locked());
}

#[test]
fn signals_neither_shorten_nor_lengthen_a_timed_wait() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new().unwrap();
    let ready = Event::new().unwrap();
    let waiter = fork_child(|| {
        let counter = SignalCounter::new(Signal::Usr1).unwrap();
        let g = lock.lock().unwrap();
        ready.set();
        let start = Instant::now();
        let (_g, notified) = cond.wait_timeout(g, Duration::from_millis(600)).unwrap();
        let took = start.elapsed();
        assert!(!notified);
        assert!(
            took >= Duration::from_millis(600) && took < Duration::from_millis(1100),
            "{took:?}"
        );
        assert!(counter.count() > 0, "no signal arrived during the wait");
    });
    assert!(ready.wait_timeout(LONG));
    for _ in 0..5 {
        until_asleep(waiter.pid());
        waiter.signal(libc::SIGUSR1).unwrap();
    }
    waiter.assert_success();
}

#[test]
fn a_notifier_that_dies_holding_the_lock_cannot_keep_a_waiter_past_its_timeout() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new().unwrap();
    let waiting = Event::new().unwrap();
    let notifier_holds = Event::new().unwrap();
    // The notifier is ready first; it takes the lock as soon as the waiter's wait releases
    // it, and dies holding it, before notifying.
    let notifier = fork_child(|| {
        assert!(waiting.wait_timeout(LONG));
        let _g = lock.lock().unwrap();
        notifier_holds.set();
        loop {
            std::thread::park();
        }
    });
    let waiter = fork_child(|| {
        let g = lock.lock().unwrap();
        waiting.set();
        let start = Instant::now();
        match cond.wait_timeout(g, Duration::from_millis(1000)) {
            Err(LockError::OwnerDied(mut g)) => g.make_consistent(),
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1000) && took < Duration::from_millis(1500),
            "{took:?}"
        );
    });
    assert!(notifier_holds.wait_timeout(LONG));
    notifier.kill().unwrap();
    assert_eq!(notifier.wait(), ChildExit::Signaled(libc::SIGKILL));
    waiter.assert_success();
    assert!(lock.try_lock().is_ok(), "the waiter repaired it");
}

#[test]
fn a_waiter_killed_mid_wait_leaves_the_condition_working() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new().unwrap();
    let flag = RawValue::new(0u32).unwrap();
    let registered = Atomic::new(0u32).unwrap();
    let waiter = || {
        fork_child(|| {
            let g = lock.lock().unwrap();
            registered.fetch_add(1, Ordering::AcqRel);
            let (_g, ok) = cond
                .wait_timeout_while(g, LONG, |_| flag.get() == 0)
                .unwrap();
            assert!(ok);
        })
    };
    let doomed = waiter();
    let survivor = waiter();
    wait_until("two waiters", || registered.load(Ordering::Acquire) == 2);
    drop(lock.lock().unwrap()); // both have released it: both are in the wait
    until_asleep(doomed.pid());
    doomed.kill().unwrap();
    assert_eq!(doomed.wait(), ChildExit::Signaled(libc::SIGKILL));
    let g = lock.lock().unwrap();
    flag.set(1);
    cond.notify_one();
    drop(g);
    survivor.assert_success();
}

#[test]
fn an_rlock_holder_dying_during_a_wait_is_reported_with_every_level_back() {
    let r = RLock::new().unwrap();
    let cond = Condition::new().unwrap();
    let waiting = Event::new().unwrap();
    let holds = Event::new().unwrap();
    let intruder = fork_child(|| {
        assert!(waiting.wait_timeout(LONG));
        r.acquire().unwrap();
        holds.set();
        loop {
            std::thread::park();
        }
    });
    let waiter = fork_child(|| {
        let outer = r.lock().unwrap();
        let inner = r.lock().unwrap();
        waiting.set();
        // Nobody notifies: the wait ends at its timeout, and taking the lock back reports
        // the intruder's death.
        match cond.wait_timeout(inner, Duration::from_millis(500)) {
            Err(LockError::OwnerDied(mut inner)) => {
                assert_eq!(r.level(), 2, "both levels are back");
                inner.make_consistent();
                drop(inner);
            }
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        drop(outer);
        assert!(!r.is_owned());
    });
    assert!(holds.wait_timeout(LONG));
    intruder.kill().unwrap();
    assert_eq!(intruder.wait(), ChildExit::Signaled(libc::SIGKILL));
    waiter.assert_success();
    assert_eq!(r.try_lock().map(|_| ()).ok(), Some(()), "repaired");
}

#[test]
fn works_with_an_rlock_releasing_every_level() {
    let r = RLock::new().unwrap();
    let cond = Condition::new().unwrap();
    let flag = RawValue::new(0u32).unwrap();
    let outer = r.lock().unwrap();
    let inner = r.lock().unwrap();
    let child = fork_child(|| {
        // Succeeds only because the parent's wait released both levels.
        let _g = r.lock().unwrap();
        flag.set(1);
        cond.notify_all();
    });
    let inner = cond
        .wait_timeout_while(inner, LONG, |_| flag.get() == 0)
        .map(|(g, ok)| {
            assert!(ok);
            g
        })
        .unwrap();
    assert_eq!(r.level(), 2, "both levels are back");
    child.assert_success();
    drop(inner);
    drop(outer);
    assert!(!r.is_locked());
    // A guard whose lock was released explicitly cannot wait.
    let g = r.lock().unwrap();
    r.release().unwrap();
    assert!(matches!(cond.wait(g), Err(LockError::NotOwner)));
}

#[test]
fn works_with_a_shm_value_lock() {
    // Python's Condition(lock=value.get_lock()): the predicate reads the value through the
    // guard.
    let v = Value::new(0u32).unwrap();
    let cond = Condition::new().unwrap();
    let registered = Atomic::new(0u32).unwrap();
    let kids: Vec<_> = (0..3)
        .map(|_| {
            fork_child(|| {
                let g = v.lock().unwrap();
                registered.fetch_add(1, Ordering::AcqRel);
                let g = cond.wait_while(g, |g| **g < 3).unwrap();
                assert_eq!(*g, 3);
            })
        })
        .collect();
    // Every child waits (asleep, the lock released) before the value moves.
    wait_until("three waiters", || registered.load(Ordering::Acquire) == 3);
    drop(v.lock().unwrap());
    for k in &kids {
        until_asleep(k.pid());
    }
    for _ in 0..3 {
        let mut g = v.lock().unwrap();
        *g += 1;
        cond.notify_all();
    }
    for k in kids {
        k.assert_success();
    }
}

#[test]
fn a_value_garbled_during_a_wait_is_refused_after_it() {
    let flag = Value::new(false).unwrap();
    let cond = Condition::new().unwrap();
    let registered = Atomic::new(0u32).unwrap();
    let waiter = fork_child(|| {
        let g = flag.lock().unwrap();
        registered.fetch_add(1, Ordering::AcqRel);
        // The bytes are checked when the lock is taken back: no `bool` with value 2 is
        // ever handed out.
        assert!(matches!(cond.wait(g), Err(LockError::Corrupted)));
    });
    wait_until("the waiter", || registered.load(Ordering::Acquire) == 1);
    // A u8 view of the same memory (and the same lock) writes a byte that is no bool.
    let bytes = Value::<u8>::from_fd(flag.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let mut g = bytes.lock().unwrap();
    *g = 2;
    cond.notify_all();
    drop(g);
    waiter.assert_success();
    assert!(matches!(flag.lock(), Err(LockError::Corrupted)));
    bytes.set(1).unwrap();
    assert!(flag.get().unwrap());
}

const NAMED: &str = "named_condition_from_an_unrelated_process";

#[test]
fn named_condition_from_an_unrelated_process() {
    if let Some(role) = reexec_role() {
        assert_eq!(role, "notifier");
        let lock = Lock::open(&std::env::var("LOCK_NAME").unwrap()).unwrap();
        let cond = Condition::open(&std::env::var("COND_NAME").unwrap()).unwrap();
        let _g = lock.lock().unwrap();
        cond.notify_all();
        return;
    }
    let (ln, cn) = (test_name("cond-lock"), test_name("cond"));
    let lock = Lock::create_named(&ln).unwrap();
    let cond = Condition::create_named(&cn).unwrap();
    let g = lock.lock().unwrap();
    // The peer cannot notify before this wait released the lock: nothing to lose.
    let mut child = reexec(NAMED, "notifier")
        .env("LOCK_NAME", &ln)
        .env("COND_NAME", &cn)
        .spawn()
        .unwrap();
    let (g, notified) = cond.wait_timeout(g, LONG).unwrap();
    assert!(notified);
    drop(g);
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    drop((lock, cond));
    assert!(shm_names(&ln).is_empty() && shm_names(&cn).is_empty());
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    fn sync<T: Sync>() {}
    send_sync::<Lock>();
    send_sync::<RLock>();
    send_sync::<Condition>();
    send_sync::<LockError<()>>();
    sync::<multiproc_sync::LockGuard<'static>>();
    sync::<multiproc_sync::RLockGuard<'static>>();
}
