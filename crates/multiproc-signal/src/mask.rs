//! Signal masks: block and unblock signals for the calling thread, with a guard.

use crate::{sys, Signal, SignalError, SignalSet};
use std::marker::PhantomData;

/// Undoes its own change to the calling thread's signal mask when dropped: unblocks what
/// [`block`] newly blocked, re-blocks what [`unblock`] unblocked — so guards may be dropped in
/// any order. Not `Send`: a mask belongs to one thread.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(multiproc_signal::block([multiproc_signal::Signal::Usr1]).unwrap());
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard undoes the change at once"]
pub struct MaskGuard {
    previous: SignalSet,
    /// The signals this guard changed, and how to undo that.
    changed: SignalSet,
    undo: libc::c_int,
    _not_send: PhantomData<*const ()>,
}

impl MaskGuard {
    /// The thread's mask before the guard's change.
    pub fn previous(&self) -> SignalSet {
        self.previous
    }

    /// Keeps the new mask: the guard is consumed without restoring anything.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for MaskGuard {
    fn drop(&mut self) {
        if !self.changed.is_empty() {
            let _ = sys::thread_sigmask(self.undo, Some(self.changed));
        }
    }
}

fn check(set: SignalSet) -> Result<SignalSet, SignalError> {
    let set = set.checked()?;
    for sig in [Signal::Kill, Signal::Stop] {
        if set.contains(sig) {
            return Err(SignalError::Uncatchable(sig));
        }
    }
    Ok(set)
}

/// Blocks `set` for the calling thread until the guard is dropped. A blocked signal stays
/// pending (once, for a standard signal) and is handled when unblocked.
///
/// # Blocking a signal in every thread
///
/// A signal sent to a process goes to any one thread that does not block it. To receive it
/// only through [`wait`](crate::wait)/[`wait_timeout`](crate::wait_timeout), it must be
/// blocked in *every* thread — otherwise its disposition (SIGTERM: terminate) applies in
/// whichever thread the kernel picks. New threads inherit the mask of the thread that spawns
/// them, so block it at the top of `main`, before any thread exists, and keep it:
/// `block([Signal::Term])?.keep()`.
///
/// # Errors
///
/// [`SignalError::Uncatchable`] if `set` holds SIGKILL or SIGSTOP.
///
/// # Examples
///
/// ```
/// use multiproc_signal::{block, pending, raise, Signal};
///
/// let guard = block([Signal::Usr1])?;
/// raise(Signal::Usr1)?; // stays pending: its default action (terminate) does not happen
/// assert!(pending()?.contains(Signal::Usr1));
/// # let _ = multiproc_signal::wait_timeout([Signal::Usr1], std::time::Duration::ZERO)?;
/// drop(guard);
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
#[doc(alias = "pthread_sigmask")]
#[doc(alias = "sigprocmask")]
pub fn block(set: impl Into<SignalSet>) -> Result<MaskGuard, SignalError> {
    let set = check(set.into())?;
    let previous = sys::thread_sigmask(libc::SIG_BLOCK, Some(set))?;
    Ok(MaskGuard {
        previous,
        changed: SignalSet::from_bits(set.bits() & !previous.bits()),
        undo: libc::SIG_UNBLOCK,
        _not_send: PhantomData,
    })
}

/// Unblocks `set` for the calling thread until the guard is dropped.
///
/// # Errors
///
/// [`SignalError::Invalid`] for signals this system does not have; [`SignalError::Io`].
pub fn unblock(set: impl Into<SignalSet>) -> Result<MaskGuard, SignalError> {
    let set = set.into().checked()?;
    let previous = sys::thread_sigmask(libc::SIG_UNBLOCK, Some(set))?;
    Ok(MaskGuard {
        previous,
        changed: SignalSet::from_bits(set.bits() & previous.bits()),
        undo: libc::SIG_BLOCK,
        _not_send: PhantomData,
    })
}

/// The calling thread's signal mask.
///
/// # Errors
///
/// [`SignalError::Io`] if the kernel refuses.
pub fn thread_mask() -> Result<SignalSet, SignalError> {
    Ok(sys::thread_sigmask(libc::SIG_BLOCK, None)?)
}

/// Signals pending for the calling thread or the process (blocked, so not yet delivered).
///
/// # Errors
///
/// [`SignalError::Io`] if the kernel refuses.
#[doc(alias = "sigpending")]
pub fn pending() -> Result<SignalSet, SignalError> {
    Ok(sys::sigpending()?)
}
