//! futex wait/wake across processes, deadlines.

use multiproc_internal::block::{Layout, SharedBlock};
use multiproc_internal::clock::Deadline;
use multiproc_internal::futex::{self, Wait};
use multiproc_internal::testing::{fork_child, until_asleep};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn block() -> SharedBlock {
    let layout = Layout {
        magic: u64::from_le_bytes(*b"MPTEST\0\0"),
        version: 1,
        elem_size: 1,
        elem_align: 1,
        len: 64,
    };
    SharedBlock::create_anonymous("test-futex", &layout, 64).unwrap()
}

#[test]
fn wake_reaches_a_sleeper_in_another_process() {
    let b = block();
    let word = b.atomic_u32(64).unwrap();
    let child = fork_child(|| {
        while word.load(Ordering::Acquire) == 0 {
            futex::wait(word, 0, Deadline::after(Duration::from_secs(20)));
        }
        assert_eq!(word.load(Ordering::Acquire), 1);
    });
    // Wait until the child is asleep in the kernel, then wake it: the wake must find it.
    until_asleep(child.pid());
    word.store(1, Ordering::Release);
    assert_eq!(futex::wake(word, 1), 1, "the sleeping child was not woken");
    child.assert_success();
}

#[test]
fn wait_returns_at_once_when_value_differs() {
    let b = block();
    let word = b.atomic_u32(64).unwrap();
    word.store(7, Ordering::Relaxed);
    let start = Instant::now();
    assert_eq!(
        futex::wait(word, 0, Deadline::after(Duration::from_secs(5))),
        Wait::Woken
    );
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn deadline_is_honoured() {
    let b = block();
    let word = b.atomic_u32(64).unwrap();
    let start = Instant::now();
    let mut got = Wait::Woken;
    let deadline = Deadline::after(Duration::from_millis(150));
    while got == Wait::Woken {
        got = futex::wait(word, 0, deadline);
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150), "early: {took:?}");
    assert!(took < Duration::from_millis(650), "late: {took:?}");
}

#[test]
fn huge_timeouts_mean_forever_instead_of_overflowing() {
    assert_eq!(Deadline::after(Duration::MAX), None);
    assert_eq!(Deadline::after(Duration::from_secs(u64::MAX / 2)), None);
    assert!(Deadline::after(Duration::from_secs(3600)).is_some());
}
