//! `Atomic` across real processes.

use multiproc_internal::testing::fork_child;
use multiproc_shm::Atomic;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;

#[test]
fn four_processes_fetch_add_exact_total() {
    let a = Atomic::new(0u64).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            fork_child(|| {
                for _ in 0..100_000 {
                    a.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for c in children {
        c.assert_success();
    }
    assert_eq!(a.load(Ordering::SeqCst), 400_000);
}

#[test]
fn compare_exchange_elects_exactly_one_winner() {
    let slot = Atomic::new(0i32).unwrap();
    let wins = Atomic::new(0u32).unwrap();
    let (slot, wins) = (&slot, &wins);
    let children: Vec<_> = (1..=4)
        .map(|id| {
            fork_child(move || {
                if slot
                    .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    wins.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    for c in children {
        c.assert_success();
    }
    assert_eq!(wins.load(Ordering::Acquire), 1);
    assert!((1..=4).contains(&slot.load(Ordering::Acquire)));
}

#[test]
fn flag_and_signed_and_fd_round_trip() {
    let stop = Atomic::new(0u8).unwrap();
    let n = Atomic::new(-5i16).unwrap();
    fork_child(|| {
        stop.store(1, Ordering::Release);
        n.fetch_sub(1, Ordering::AcqRel);
    })
    .assert_success();
    assert_eq!(stop.load(Ordering::Acquire), 1);
    assert_eq!(n.load(Ordering::Acquire), -6);
    let again = Atomic::<i16>::from_fd(n.as_fd().try_clone_to_owned().unwrap()).unwrap();
    again.store(9, Ordering::Release);
    assert_eq!(n.load(Ordering::Acquire), 9);
    assert!(Atomic::<u64>::from_fd(n.as_fd().try_clone_to_owned().unwrap()).is_err());
    // An array of the same element type is not an atomic.
    let arr = multiproc_shm::RawArray::<i16>::zeroed(1).unwrap();
    assert!(Atomic::<i16>::from_fd(arr.as_fd().try_clone_to_owned().unwrap()).is_err());
}
