//! The robust lock across real processes: mutual exclusion, owner death, recovery.

use multiproc_internal::block::{Layout, SharedBlock};
use multiproc_internal::clock::Deadline;
use multiproc_internal::robust::{Acquired, LockFail, RobustMutex};
use multiproc_internal::testing::{fork_child, process_state, wait_until as until, ChildExit};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const LOCK: usize = 64;
const COUNTER: usize = 128;
const FLAG: usize = 192;

fn block() -> SharedBlock {
    let layout = Layout {
        magic: u64::from_le_bytes(*b"MPTEST\0\0"),
        version: 1,
        elem_size: 1,
        elem_align: 1,
        len: 256,
    };
    let b = SharedBlock::create_anonymous("test-robust", &layout, 256).unwrap();
    b.init_robust_mutex(LOCK).unwrap();
    b
}

fn parts(b: &SharedBlock) -> (&RobustMutex, &AtomicU64, &AtomicU32) {
    (
        b.robust_mutex(LOCK).unwrap(),
        b.atomic_u64(COUNTER).unwrap(),
        b.atomic_u32(FLAG).unwrap(),
    )
}

/// A child that takes the lock, raises the flag, and then waits forever (until killed).
fn holder(b: &SharedBlock) -> multiproc_internal::testing::ForkChild {
    let (lock, _, flag) = parts(b);
    let child = fork_child(|| {
        assert_eq!(lock.lock(None), Ok(Acquired::Clean));
        flag.store(1, Ordering::Release);
        loop {
            multiproc_internal::futex::wait(flag, 1, None);
        }
    });
    until("holder to lock", || flag.load(Ordering::Acquire) == 1);
    child
}

#[test]
fn four_processes_exact_total() {
    let b = block();
    let (lock, counter, _) = parts(&b);
    let children: Vec<_> = (0..4)
        .map(|_| {
            fork_child(|| {
                for _ in 0..100_000 {
                    assert_eq!(lock.lock(None), Ok(Acquired::Clean));
                    // Load + store, not an atomic add: only mutual exclusion keeps the total.
                    let v = counter.load(Ordering::Relaxed);
                    counter.store(v + 1, Ordering::Relaxed);
                    assert!(lock.unlock());
                }
            })
        })
        .collect();
    for c in children {
        c.assert_success();
    }
    assert_eq!(counter.load(Ordering::Relaxed), 400_000);
    assert!(!lock.is_locked());
}

#[test]
fn holder_killed_without_waiters_then_consistent() {
    let b = block();
    let (lock, _, _) = parts(&b);
    let child = holder(&b);
    assert_eq!(lock.try_lock(), Err(LockFail::WouldBlock));
    child.kill().unwrap();
    let killed = Instant::now();
    assert_eq!(
        lock.lock(Deadline::after(Duration::from_secs(5))),
        Ok(Acquired::OwnerDied)
    );
    let took = killed.elapsed();
    assert!(
        took < Duration::from_millis(100),
        "owner death noticed after {took:?}"
    );
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGKILL));
    // Marked consistent by a plain unlock: the next acquirer sees a clean lock.
    assert!(lock.unlock());
    assert_eq!(lock.lock(None), Ok(Acquired::Clean));
    assert!(lock.unlock());
}

#[test]
fn holder_killed_with_waiter_then_not_recoverable() {
    let b = block();
    let (lock, counter, _) = parts(&b);
    let owner = holder(&b);
    // The waiter reports what it got through the counter: 1 = OwnerDied.
    let waiter = fork_child(|| {
        let got = lock.lock(Deadline::after(Duration::from_secs(20)));
        counter.store(
            if got == Ok(Acquired::OwnerDied) { 1 } else { 2 },
            Ordering::Release,
        );
        // Leave the state inconsistent.
        assert!(lock.unlock_not_recoverable());
    });
    until("the waiter to sleep on the lock", || {
        lock.word() & libc::FUTEX_WAITERS != 0
    });
    owner.kill().unwrap();
    let killed = Instant::now();
    until("the waiter to take over", || {
        counter.load(Ordering::Acquire) != 0
    });
    let took = killed.elapsed();
    assert_eq!(
        counter.load(Ordering::Acquire),
        1,
        "waiter did not get OwnerDied"
    );
    assert!(
        took < Duration::from_millis(100),
        "waiter woke after {took:?}"
    );
    waiter.assert_success();
    assert_eq!(owner.wait(), ChildExit::Signaled(libc::SIGKILL));
    // Nobody marked it consistent: every later acquirer fails at once, blocking or not.
    let start = Instant::now();
    assert_eq!(lock.lock(None), Err(LockFail::NotRecoverable));
    assert_eq!(lock.try_lock(), Err(LockFail::NotRecoverable));
    assert!(start.elapsed() < Duration::from_millis(100));
    assert!(lock.is_not_recoverable());
}

#[test]
fn blocked_waiters_fail_when_marked_not_recoverable() {
    let b = block();
    let (lock, counter, flag) = parts(&b);
    assert_eq!(lock.lock(None), Ok(Acquired::Clean));
    let waiter = fork_child(|| {
        let got = lock.lock(Deadline::after(Duration::from_secs(20)));
        assert_eq!(got, Err(LockFail::NotRecoverable));
        counter.store(1, Ordering::Release);
    });
    until("the waiter to sleep", || {
        lock.word() & libc::FUTEX_WAITERS != 0
    });
    flag.store(0, Ordering::Relaxed);
    assert!(lock.unlock_not_recoverable());
    waiter.assert_success();
    assert_eq!(counter.load(Ordering::Acquire), 1);
}

#[test]
fn timeout_holds_while_another_process_holds() {
    let b = block();
    let (lock, _, _) = parts(&b);
    let child = holder(&b);
    let start = Instant::now();
    let got = lock.lock(Deadline::after(Duration::from_millis(200)));
    let took = start.elapsed();
    assert_eq!(got, Err(LockFail::TimedOut));
    assert!(
        took >= Duration::from_millis(200),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_millis(700), "returned late: {took:?}");
    child.kill().unwrap();
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGKILL));
}

#[test]
fn same_thread_relock_is_an_error_not_a_deadlock() {
    let b = block();
    let (lock, _, _) = parts(&b);
    assert_eq!(lock.lock(None), Ok(Acquired::Clean));
    assert_eq!(lock.lock(None), Err(LockFail::WouldDeadlock));
    assert_eq!(lock.try_lock(), Err(LockFail::WouldDeadlock));
    assert!(lock.unlock());
    // Not held any more: a second unlock is refused, and the word is untouched.
    assert!(!lock.unlock());
    assert!(!lock.is_locked());
}

#[test]
fn only_the_holder_can_unlock() {
    let b = block();
    let (lock, _, _) = parts(&b);
    assert_eq!(lock.lock(None), Ok(Acquired::Clean));
    let word = lock.word();
    // A forked child inherits the memory but not the ownership.
    fork_child(|| {
        assert!(!lock.unlock());
        assert!(lock.is_locked());
    })
    .assert_success();
    assert_eq!(lock.word(), word);
    assert!(lock.unlock());
}

#[test]
fn thread_exit_with_leaked_guard_reports_owner_died() {
    let b = block();
    let (lock, _, _) = parts(&b);
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(lock.lock(None), Ok(Acquired::Clean));
            // The thread ends holding the lock (as with a leaked guard).
        });
    });
    assert_eq!(lock.lock(None), Ok(Acquired::OwnerDied));
    assert!(lock.unlock());
}

#[test]
fn many_locks_released_in_any_order() {
    let blocks: Vec<_> = (0..5).map(|_| block()).collect();
    let locks: Vec<_> = blocks.iter().map(|b| parts(b).0).collect();
    for l in &locks {
        assert_eq!(l.lock(None), Ok(Acquired::Clean));
    }
    // Release from the middle, then the rest; then a child killed while holding all of the
    // remaining ones must leave every one marked (the kernel list stayed intact).
    assert!(locks[2].unlock());
    assert!(locks[0].unlock());
    assert!(locks[4].unlock());
    assert!(locks[1].unlock());
    assert!(locks[3].unlock());
    let flag = parts(&blocks[0]).2;
    let child = fork_child(|| {
        for l in &locks {
            assert_eq!(l.lock(None), Ok(Acquired::Clean));
        }
        assert!(locks[1].unlock());
        assert!(locks[3].unlock());
        assert_eq!(locks[1].lock(None), Ok(Acquired::Clean));
        flag.store(1, Ordering::Release);
        loop {
            multiproc_internal::futex::wait(flag, 1, None);
        }
    });
    until("child to hold", || flag.load(Ordering::Acquire) == 1);
    child.kill().unwrap();
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGKILL));
    for (i, l) in locks.iter().enumerate() {
        let expect = if i == 3 {
            Acquired::Clean
        } else {
            Acquired::OwnerDied
        };
        assert_eq!(l.lock(None), Ok(expect), "lock {i}");
        assert!(l.unlock());
    }
}

#[test]
fn timed_out_waiter_passes_on_the_wake_up_it_consumed() {
    let b = block();
    let (lock, _, _) = parts(&b);
    assert_eq!(lock.lock(None), Ok(Acquired::Clean));
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        // S1: a short deadline, but a timer allowed to fire up to 2 s late, so that the unlock
        // below wakes it after its deadline has passed.
        let tx1 = tx.clone();
        let s1 = s.spawn(move || {
            // SAFETY: prctl on the calling thread; PR_SET_TIMERSLACK takes a plain integer.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 2_000_000_000u64) };
            tx1.send(multiproc_internal::identity::tid()).unwrap();
            let got = lock.lock(Deadline::after(Duration::from_millis(50)));
            // Under load S1 may run before the relock below and find the lock free: taking it
            // is right, and it must give it back (a thread ending with it would be its death).
            if got.is_ok() {
                assert!(lock.unlock());
            }
            got
        });
        let t1 = rx.recv().unwrap();
        until("S1 to sleep", || {
            process_state(t1) == Some('S') && lock.word() & libc::FUTEX_WAITERS != 0
        });
        let queued = Instant::now();
        // S2: no deadline to speak of, queued behind S1.
        let s2 = s.spawn(move || {
            tx.send(multiproc_internal::identity::tid()).unwrap();
            let got = lock.lock(Deadline::after(Duration::from_secs(20)));
            let at = Instant::now();
            assert!(lock.unlock());
            (got, at)
        });
        let t2 = rx.recv().unwrap();
        until("S2 to sleep", || process_state(t2) == Some('S'));
        // Let S1's deadline pass (its timer is still pending thanks to the slack).
        while queued.elapsed() < Duration::from_millis(80) {
            std::thread::yield_now();
        }
        // Unlock (waking S1, first in the queue) and take the lock straight back, so that S1
        // finds it held when it runs.
        assert!(lock.unlock());
        assert_eq!(lock.lock(None), Ok(Acquired::Clean));
        // Usually S1 finds it held and times out; either way it must not strand S2.
        let s1_got = s1.join().unwrap();
        assert!(
            matches!(s1_got, Err(LockFail::TimedOut) | Ok(Acquired::Clean)),
            "{s1_got:?}"
        );
        // Now release: S2 must be woken, although our relock saw no waiters bit.
        let released = Instant::now();
        assert!(lock.unlock());
        let (got, at) = s2.join().unwrap();
        assert_eq!(got, Ok(Acquired::Clean));
        assert!(
            at.duration_since(released) < Duration::from_secs(2),
            "S2 was stranded for {:?}",
            at.duration_since(released)
        );
    });
}

/// Makes `set_robust_list` fail with EPERM in this process from now on (a seccomp filter, as
/// a sandbox that refuses it would). x86_64 and aarch64 only in spirit: the filter does not
/// check the architecture, which a test process never changes.
fn refuse_set_robust_list() {
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JEQ_K: u16 = 0x15;
    const BPF_RET_K: u16 = 0x06;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let filter = [
        // The syscall number: offset 0 of `struct seccomp_data`.
        stmt(BPF_LD_W_ABS, 0),
        libc::sock_filter {
            code: BPF_JMP_JEQ_K,
            jt: 0,
            jf: 1,
            k: libc::SYS_set_robust_list as u32,
        },
        stmt(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with these options reads `prog` (valid for the call) and changes only
    // this process's syscall filter; PR_SET_NO_NEW_PRIVS lets an unprivileged process set one.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn a_refused_robust_list_is_reported_as_unavailable_not_as_too_many_locks() {
    let _w = multiproc_internal::testing::watchdog(Duration::from_secs(60));
    let b = block();
    let (lock, _, _) = parts(&b);
    // In a child, where the kernel gave the forking thread's copy no robust list yet: its
    // first lock registers one, and the filter refuses that.
    let child = fork_child(|| {
        refuse_set_robust_list();
        assert_eq!(lock.lock(None), Err(LockFail::Unavailable));
        assert_eq!(lock.try_lock(), Err(LockFail::Unavailable));
        assert!(!lock.is_locked());
    });
    assert_eq!(child.wait(), ChildExit::Exited(0));
    // The lock is untouched for everyone else.
    assert_eq!(lock.lock(None), Ok(Acquired::Clean));
    assert!(lock.unlock());
}
