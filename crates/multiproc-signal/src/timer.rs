//! `alarm` and the interval timers (`setitimer`/`getitimer`).

use crate::{sys, SignalError};
use std::time::Duration;

/// Schedules SIGALRM for this process in `secs` seconds, replacing any alarm already set; `0`
/// cancels. Returns the seconds that were left on the previous alarm (0 if none).
///
/// `alarm` shares the real interval timer with [`set_timer`]`(Timer::Real, …)`.
///
/// ```
/// use multiproc_signal::alarm;
/// alarm(100);
/// let left = alarm(0); // cancel
/// assert!(left >= 99 && left <= 100);
/// ```
pub fn alarm(secs: u32) -> u32 {
    sys::alarm(secs)
}

/// Which interval timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Wall-clock time; fires SIGALRM (`ITIMER_REAL`).
    Real,
    /// User CPU time of the process; fires SIGVTALRM (`ITIMER_VIRTUAL`).
    Virtual,
    /// User and system CPU time; fires SIGPROF (`ITIMER_PROF`).
    Prof,
}

impl Timer {
    fn raw(self) -> libc::c_int {
        match self {
            Timer::Real => libc::ITIMER_REAL,
            Timer::Virtual => libc::ITIMER_VIRTUAL,
            Timer::Prof => libc::ITIMER_PROF,
        }
    }
}

/// A timer's setting: time to the next expiry (zero: disarmed) and the period after it (zero:
/// one-shot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimerValue {
    /// Time until the timer next fires.
    pub value: Duration,
    /// Period of the following expiries.
    pub interval: Duration,
}

/// Arms `timer` to fire after `value`, then every `interval` (zero: once); a zero `value`
/// disarms it. Returns the previous setting. Resolution is a microsecond.
///
/// # Errors
///
/// [`SignalError::Io`] (`EINVAL`) for values the kernel rejects.
///
/// # Examples
///
/// ```
/// use multiproc_signal::{get_timer, set_timer, Timer};
/// use std::time::Duration;
///
/// set_timer(Timer::Virtual, Duration::from_secs(60), Duration::ZERO)?;
/// assert!(get_timer(Timer::Virtual)?.value > Duration::from_secs(59));
/// set_timer(Timer::Virtual, Duration::ZERO, Duration::ZERO)?; // disarm
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
#[doc(alias = "setitimer")]
pub fn set_timer(
    timer: Timer,
    value: Duration,
    interval: Duration,
) -> Result<TimerValue, SignalError> {
    let (value, interval) = sys::setitimer(timer.raw(), value, interval)?;
    Ok(TimerValue { value, interval })
}

/// The current setting of `timer`.
///
/// # Errors
///
/// [`SignalError::Io`] if the kernel refuses (it does not for these timers).
#[doc(alias = "getitimer")]
pub fn get_timer(timer: Timer) -> Result<TimerValue, SignalError> {
    let (value, interval) = sys::getitimer(timer.raw())?;
    Ok(TimerValue { value, interval })
}
