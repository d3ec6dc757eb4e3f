//! Waiting for signals: `pause`, the race-free `suspend`, and `wait`/`wait_timeout`.

use crate::mask::{block, thread_mask};
use crate::{sys, Signal, SignalError, SignalSet};
use std::time::{Duration, Instant};

/// Sleeps until a signal runs a handler (or terminates the process): Python's
/// `signal.pause()`.
///
/// It races with delivery: a signal that arrives between your last check and the call is
/// handled before the sleep begins, and the sleep then waits for the *next* one. To wait
/// without that race, block the signal, check, then [`suspend`].
#[doc(alias = "sigsuspend")]
pub fn pause() {
    sys::pause();
}

/// The race-free `pause`: with the signals of `set` blocked by the caller, unblocks them and
/// sleeps until a signal runs a handler — atomically, so one that arrived before the call
/// (and stayed pending, blocked) is handled at once instead of being missed. The mask is
/// restored before it returns.
///
/// # Errors
///
/// [`SignalError::Io`] if the mask cannot be read.
///
/// # Examples
///
/// ```
/// use multiproc_signal::{block, raise, suspend, Signal, SignalCounter};
///
/// let usr1 = SignalCounter::new(Signal::Usr1)?;
/// let _blocked = block([Signal::Usr1])?;
/// raise(Signal::Usr1)?; // arrives "too early": pending, not lost
/// while usr1.count() == 0 {
///     suspend([Signal::Usr1])?; // handles it and returns
/// }
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
pub fn suspend(set: impl Into<SignalSet>) -> Result<(), SignalError> {
    let set = set.into().checked()?;
    let mask = SignalSet::from_bits(thread_mask()?.bits() & !set.bits());
    sys::sigsuspend(mask);
    Ok(())
}

/// Waits until one of `set` is sent, and returns it; the signal is consumed — no handler
/// runs, no default action happens. Python's `signal.sigwait`.
///
/// The signals are blocked in the calling thread while it waits. One sent to the *process*
/// while not blocked somewhere follows its disposition in another thread: block them in every
/// thread beforehand (see [`block`](crate::block)) to be sure to receive them all here.
///
/// # Errors
///
/// [`SignalError::Uncatchable`] for SIGKILL/SIGSTOP; [`SignalError::Io`].
#[doc(alias = "sigwait")]
#[doc(alias = "sigwaitinfo")]
pub fn wait(set: impl Into<SignalSet>) -> Result<Signal, SignalError> {
    let set = set.into();
    let _blocked = block(set)?;
    loop {
        match sys::sigtimedwait(set, None) {
            Ok(Some(n)) => return Signal::from_raw(n),
            Ok(None) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Like [`wait`], for at most `timeout` (on the monotonic clock; another signal's handler
/// interrupting the wait does not cut it short). `None` when the time ran out.
///
/// # Errors
///
/// As [`wait`].
///
/// # Examples
///
/// ```
/// use multiproc_signal::{wait_timeout, Signal};
/// use std::time::Duration;
///
/// assert_eq!(wait_timeout([Signal::Usr2], Duration::from_millis(10))?, None);
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
#[doc(alias = "sigtimedwait")]
pub fn wait_timeout(
    set: impl Into<SignalSet>,
    timeout: Duration,
) -> Result<Option<Signal>, SignalError> {
    let set = set.into();
    let _blocked = block(set)?;
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match sys::sigtimedwait(set, left) {
            Ok(Some(n)) => return Signal::from_raw(n).map(Some),
            Ok(None) => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
