//! Dispositions: default, ignore, and SIGCHLD auto-reaping.

use crate::{sys, Signal, SignalError};
use std::sync::atomic::{AtomicU64, Ordering};

/// Signals for which a multiproc handler was ever registered in this process. signal-hook keeps
/// its OS-level handler installed for good once registered (and would not reinstall it), so
/// their dispositions must not be changed behind its back.
static REGISTERED: AtomicU64 = AtomicU64::new(0);

fn bit(raw: i32) -> u64 {
    if (1..=64).contains(&raw) {
        1 << (raw - 1)
    } else {
        0
    }
}

/// Checks that a handler may be registered for `sig`; returns its number. Nothing is recorded:
/// callers check every signal first, then register, then [`mark_registered`].
pub(crate) fn check_for_handler(sig: Signal) -> Result<i32, SignalError> {
    let raw = sig.checked_raw()?;
    if !sig.is_catchable() {
        return Err(SignalError::Uncatchable(sig));
    }
    if matches!(sig, Signal::Segv | Signal::Bus | Signal::Ill | Signal::Fpe) {
        return Err(SignalError::Fault(sig));
    }
    Ok(raw)
}

/// Records that signal-hook installed (or may have installed) its handler for these signals.
pub(crate) fn mark_registered(raws: &[i32]) {
    let bits = raws.iter().fold(0, |acc, &r| acc | bit(r));
    REGISTERED.fetch_or(bits, Ordering::AcqRel);
}

fn settable(sig: Signal) -> Result<i32, SignalError> {
    let raw = sig.checked_raw()?;
    if !sig.is_catchable() {
        return Err(SignalError::Uncatchable(sig));
    }
    if REGISTERED.load(Ordering::Acquire) & bit(raw) != 0 {
        return Err(SignalError::HandlerRegistered(sig));
    }
    Ok(raw)
}

/// Restores the default action of `sig` (see [`Signal::default_action`]).
///
/// Once a handler for `sig` has been registered through this crate (a [`Signals`](crate::Signals),
/// [`SignalCounter`](crate::SignalCounter), [`spawn_handler`](crate::spawn_handler) or
/// [`register_raw`](crate::register_raw)), its disposition stays with that machinery for the
/// life of the process: signal-hook never reinstalls its handler, so changing it would break
/// every later handler. Dropping the last handler leaves signal-hook's handler in place with
/// nothing to do: the signal is caught and discarded. That is not `SIG_IGN`: it still
/// interrupts blocking calls, a program started with `exec` gets the default action back, and
/// SIGCHLD children are not reaped automatically.
///
/// # Errors
///
/// [`SignalError::Uncatchable`] for SIGKILL/SIGSTOP; [`SignalError::HandlerRegistered`] (see
/// above).
#[doc(alias = "SIG_DFL")]
pub fn set_default(sig: Signal) -> Result<(), SignalError> {
    Ok(sys::set_disposition(settable(sig)?, libc::SIG_DFL, 0)?)
}

/// Ignores `sig` from now on: it is discarded when sent.
///
/// Ignoring SIGCHLD has the effect of [`ignore_children`]: children are reaped by the kernel
/// and their exit statuses are gone.
///
/// # Errors
///
/// As [`set_default`].
///
/// # Examples
///
/// ```
/// use multiproc_signal::{ignore, set_default, Signal, SignalError};
///
/// ignore(Signal::Usr2)?;
/// multiproc_signal::raise(Signal::Usr2)?; // discarded: we are still here
/// set_default(Signal::Usr2)?;
/// assert!(matches!(ignore(Signal::Kill), Err(SignalError::Uncatchable(_))));
/// # Ok::<(), SignalError>(())
/// ```
#[doc(alias = "SIG_IGN")]
pub fn ignore(sig: Signal) -> Result<(), SignalError> {
    Ok(sys::set_disposition(settable(sig)?, libc::SIG_IGN, 0)?)
}

/// Whether `sig` is ignored right now.
///
/// # Errors
///
/// [`SignalError::Io`] if the kernel refuses.
pub fn is_ignored(sig: Signal) -> Result<bool, SignalError> {
    Ok(sys::disposition(sig.as_raw())? == libc::SIG_IGN)
}

/// Lets the kernel reap this process's children by itself (SIGCHLD set to `SIG_IGN` with
/// `SA_NOCLDWAIT`): children never become zombies, and nobody needs to wait for them.
///
/// The price: **their exit statuses are gone**. `waitpid` and `waitid` — even on a pidfd — then
/// fail with `ECHILD` once a child exits. Undo it with [`set_default`]`(Signal::Chld)`.
///
/// # Errors
///
/// [`SignalError::HandlerRegistered`] if a SIGCHLD handler was registered through this crate.
pub fn ignore_children() -> Result<(), SignalError> {
    let sig = settable(Signal::Chld)?;
    Ok(sys::set_disposition(
        sig,
        libc::SIG_IGN,
        libc::SA_NOCLDWAIT,
    )?)
}
