//! `Barrier` across real processes.

use multiproc_internal::testing::{fork_child, wait_until};
use multiproc_shm::{RawArray, SharedMemory};
use multiproc_sync::{Barrier, BrokenBarrier};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// `n` processes pass the barrier together (it must have exactly `n` parties).
fn all_pass(b: &Barrier, n: usize) {
    let kids: Vec<_> = (0..n)
        .map(|_| {
            fork_child(|| {
                b.wait_timeout(Duration::from_secs(20)).unwrap();
            })
        })
        .collect();
    for k in kids {
        k.assert_success();
    }
}

#[test]
fn four_processes_ten_rounds_each_round_a_permutation() {
    const PARTIES: usize = 4;
    const ROUNDS: usize = 10;
    let b = Barrier::new(PARTIES as u32).unwrap();
    let seen = RawArray::<u32>::zeroed(PARTIES * ROUNDS).unwrap();
    // How many processes got through each round.
    let passed = SharedMemory::create(4 * ROUNDS).unwrap();
    let kids: Vec<_> = (0..PARTIES)
        .map(|p| {
            let (b, seen, passed) = (&b, &seen, &passed);
            fork_child(move || {
                for r in 0..ROUNDS {
                    let i = b.wait_timeout(Duration::from_secs(20)).unwrap();
                    seen.set(r * PARTIES + p, i + 1).unwrap();
                    if r > 0 {
                        // Nobody gets through round r before all got through round r-1.
                        let prev = passed.atomic_u32(4 * (r - 1)).unwrap();
                        assert_eq!(prev.load(Ordering::Acquire), PARTIES as u32);
                    }
                    passed
                        .atomic_u32(4 * r)
                        .unwrap()
                        .fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    for k in kids {
        k.assert_success();
    }
    for r in 0..ROUNDS {
        let mut idx: Vec<u32> = (0..PARTIES)
            .map(|p| seen.get(r * PARTIES + p).unwrap() - 1)
            .collect();
        idx.sort_unstable();
        // Every index once: exactly one process was the last to arrive (the leader).
        assert_eq!(idx, (0..PARTIES as u32).collect::<Vec<_>>(), "round {r}");
    }
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn a_timeout_breaks_the_barrier_for_everyone_until_reset() {
    let b = Barrier::new(3).unwrap();
    let patient = fork_child(|| {
        assert_eq!(b.wait_timeout(Duration::from_secs(20)), Err(BrokenBarrier));
    });
    wait_until("the first waiter", || b.n_waiting() == 1);
    let impatient = fork_child(|| {
        let start = Instant::now();
        assert_eq!(
            b.wait_timeout(Duration::from_millis(200)),
            Err(BrokenBarrier)
        );
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(700),
            "{took:?}"
        );
    });
    patient.assert_success();
    impatient.assert_success();
    assert!(b.is_broken());
    // Broken until reset: a new arrival fails at once.
    assert_eq!(b.wait_timeout(Duration::from_secs(5)), Err(BrokenBarrier));
    b.reset();
    assert!(!b.is_broken());
    all_pass(&b, 3);
}

#[test]
fn abort_and_reset_release_the_waiters_with_an_error() {
    let b = Barrier::new(4).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| fork_child(|| assert_eq!(b.wait(), Err(BrokenBarrier))))
        .collect();
    wait_until("two waiters", || b.n_waiting() == 2);
    b.abort();
    for w in waiters {
        w.assert_success();
    }
    assert!(b.is_broken());
    b.reset();
    let waiters: Vec<_> = (0..3)
        .map(|_| fork_child(|| assert_eq!(b.wait(), Err(BrokenBarrier))))
        .collect();
    wait_until("three waiters", || b.n_waiting() == 3);
    b.reset(); // the waiters fail; the barrier is usable at once
    for w in waiters {
        w.assert_success();
    }
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    all_pass(&b, 4);
}

#[test]
fn bad_party_counts_are_refused() {
    assert_eq!(
        Barrier::new(0).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert_eq!(Barrier::new(1).unwrap().wait(), Ok(0));
}

#[test]
fn waiters_of_a_reset_generation_fail_even_after_more_resets() {
    let b = Barrier::new(3).unwrap();
    let waiter = fork_child(|| assert_eq!(b.wait(), Err(BrokenBarrier)));
    wait_until("the waiter", || b.n_waiting() == 1);
    // Hold the waiter inside the generation while it is reset twice.
    waiter.signal(libc::SIGSTOP).unwrap();
    b.reset();
    b.reset();
    // While it has not left, the reset is pending: an arrival waits (here: until its deadline)
    // rather than joining the broken generation.
    let start = Instant::now();
    assert_eq!(
        b.wait_timeout(Duration::from_millis(200)),
        Err(BrokenBarrier)
    );
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(!b.is_broken(), "a pending reset does not count as broken");
    waiter.signal(libc::SIGCONT).unwrap();
    waiter.assert_success();
    // Its departure completed the reset: the barrier works again.
    assert_eq!(b.n_waiting(), 0);
    let kids: Vec<_> = (0..2)
        .map(|_| {
            fork_child(|| {
                b.wait_timeout(Duration::from_secs(20)).unwrap();
            })
        })
        .collect();
    assert!(b.wait_timeout(Duration::from_secs(20)).is_ok());
    for k in kids {
        k.assert_success();
    }
}

#[test]
fn resetting_an_empty_barrier_breaks_nothing() {
    let b = Barrier::new(2).unwrap();
    b.reset();
    assert!(!b.is_broken());
    let child = fork_child(|| {
        b.wait_timeout(Duration::from_secs(20)).unwrap();
    });
    assert!(b.wait_timeout(Duration::from_secs(20)).is_ok());
    child.assert_success();
}

#[test]
fn shared_by_fd_and_short_objects_are_refused() {
    use multiproc_internal::block::{Layout, SharedBlock};
    use std::os::fd::AsFd;
    let b = Barrier::new(1).unwrap();
    let again = Barrier::from_fd(b.as_fd().try_clone_to_owned().unwrap()).unwrap();
    assert_eq!(again.parties(), 1);
    assert_eq!(again.wait(), Ok(0));
    // A peer's object with the right magic but no room for the payload: an error, no panic.
    let short = SharedBlock::create_anonymous(
        "short",
        &Layout {
            magic: u64::from_le_bytes(*b"MPBARIER"),
            version: 1,
            elem_size: 1,
            elem_align: 1,
            len: 0,
        },
        8,
    )
    .unwrap();
    let err = Barrier::from_fd(short.fd().try_clone_to_owned().unwrap()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let err = multiproc_sync::Event::from_fd(b.as_fd().try_clone_to_owned().unwrap()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}
