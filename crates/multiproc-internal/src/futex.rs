//! futex wait and wake on an [`AtomicU32`] that may live in memory shared between processes.
//!
//! Never uses `FUTEX_PRIVATE_FLAG`: the words live in `MAP_SHARED` mappings, and a private
//! futex would silently lose wake-ups across processes. Deadlines are absolute
//! `CLOCK_MONOTONIC` times (`FUTEX_WAIT_BITSET`). `EINTR` and spurious wake-ups are reported
//! as [`Wait::Woken`]: callers re-check their condition in a loop, which they must do anyway.

use crate::clock::Deadline;
use std::sync::atomic::AtomicU32;

/// Why [`wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Woken, interrupted, or the word no longer held `expected`: re-check the condition.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// Sleeps while `*word == expected`, until woken or until `deadline`.
#[inline]
pub fn wait(word: &AtomicU32, expected: u32, deadline: Option<Deadline>) -> Wait {
    let ts = deadline.map(Deadline::as_timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call; `ts_ptr` is null or
    // points to a live timespec. FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC time (the
    // default clock for this op) has no other requirements; the shared (non-private) form is
    // used on purpose.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if rc == 0 {
        // A real wake-up, even if the deadline has passed meanwhile: the caller may hold a
        // wake-up meant to be passed on, and must know it.
        return Wait::Woken;
    }
    if std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        return Wait::TimedOut;
    }
    // EAGAIN (value changed), EINTR: "look again". EFAULT/EINVAL cannot happen with a live,
    // aligned &AtomicU32.
    if deadline.is_some_and(Deadline::has_passed) {
        return Wait::TimedOut;
    }
    Wait::Woken
}

/// Wakes at most `n` waiters sleeping on `word`; returns how many were woken.
#[inline]
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `word` is a valid u32; FUTEX_WAKE only uses the address as a key.
    let rc = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
    rc.max(0) as usize
}

/// Wakes every waiter sleeping on `word`.
#[inline]
pub fn wake_all(word: &AtomicU32) -> usize {
    wake(word, i32::MAX as u32)
}

/// How long [`spin_until`] spins before giving up (iterations of the backoff loop). Spinning
/// for about a microsecond is what brings a hand-off across cores below the ≈ 20–50 µs a
/// blocking wake-up costs; much longer only burns a core that the holder may need.
pub const SPIN_ROUNDS: u32 = 10;

/// Spins with exponential backoff until `ready()` is true or the budget is spent; returns
/// whether it became true. The first half of the adaptive wait every primitive uses: callers
/// then sleep with [`wait`].
#[inline]
pub fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
    for round in 0..SPIN_ROUNDS {
        if ready() {
            return true;
        }
        for _ in 0..(1u32 << round.min(6)) {
            std::hint::spin_loop();
        }
    }
    ready()
}
