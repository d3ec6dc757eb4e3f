//! Deadlines on the monotonic clock.
//!
//! [`std::time::Instant`] cannot be turned into the absolute `CLOCK_MONOTONIC` time that
//! `FUTEX_WAIT_BITSET` takes, so deadlines are kept as a [`Duration`] since the clock's epoch.

use std::time::Duration;

/// An absolute point on `CLOCK_MONOTONIC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Duration);

/// Timeouts longer than this wait forever (about 31 years): beyond it, `tv_sec` arithmetic
/// could overflow in the kernel or in callers.
const FOREVER: Duration = Duration::from_secs(1 << 30);

/// Reads `CLOCK_MONOTONIC`.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Deadline {
    /// The deadline `timeout` from now, or `None` when the timeout is so long that it means
    /// "forever" (it would overflow).
    pub fn after(timeout: Duration) -> Option<Deadline> {
        if timeout >= FOREVER {
            return None;
        }
        Some(Deadline(monotonic_now() + timeout))
    }

    /// The deadline equivalent to `instant`, or `None` if it is too far away.
    pub fn from_instant(instant: std::time::Instant) -> Option<Deadline> {
        Deadline::after(instant.saturating_duration_since(std::time::Instant::now()))
    }

    /// Time left until the deadline (zero once it has passed).
    pub fn remaining(self) -> Duration {
        self.0.saturating_sub(monotonic_now())
    }

    /// Whether the deadline has passed.
    pub fn has_passed(self) -> bool {
        monotonic_now() >= self.0
    }

    /// The absolute time as a `timespec`, for `FUTEX_WAIT_BITSET` and friends.
    pub fn as_timespec(self) -> libc::timespec {
        libc::timespec {
            tv_sec: self.0.as_secs() as libc::time_t,
            tv_nsec: self.0.subsec_nanos() as libc::c_long,
        }
    }
}
