//! Signal masks: block and unblock signals for the calling thread, with a guard.

use crate::{sys, Signal, SignalError, SignalSet};
use std::marker::PhantomData;

/// Restores the calling thread's previous signal mask when dropped. Not `Send`: a mask belongs
/// to one thread.
#[derive(Debug)]
#[must_use = "dropping the guard restores the previous mask at once"]
pub struct MaskGuard {
    previous: SignalSet,
    _not_send: PhantomData<*const ()>,
}

impl MaskGuard {
    /// The mask that dropping the guard restores.
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
        let _ = sys::thread_sigmask(libc::SIG_SETMASK, Some(self.previous));
    }
}

fn check(set: SignalSet) -> Result<(), SignalError> {
    for sig in [Signal::Kill, Signal::Stop] {
        if set.contains(sig) {
            return Err(SignalError::Uncatchable(sig));
        }
    }
    Ok(())
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
    let set = set.into();
    check(set)?;
    let previous = sys::thread_sigmask(libc::SIG_BLOCK, Some(set))?;
    Ok(MaskGuard {
        previous,
        _not_send: PhantomData,
    })
}

/// Unblocks `set` for the calling thread until the guard is dropped.
///
/// # Errors
///
/// [`SignalError::Io`] if the kernel refuses.
pub fn unblock(set: impl Into<SignalSet>) -> Result<MaskGuard, SignalError> {
    let previous = sys::thread_sigmask(libc::SIG_UNBLOCK, Some(set.into()))?;
    Ok(MaskGuard {
        previous,
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
