//! Sending signals: to one process, to a process group, or through a pidfd.

use crate::{sys, Signal, SignalError};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A process id. Only positive ids name one process; [`kill`] refuses the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    /// Wraps a raw pid.
    pub const fn from_raw(pid: i32) -> Pid {
        Pid(pid)
    }

    /// The raw pid.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// This process.
    #[doc(alias = "getpid")]
    pub fn this() -> Pid {
        Pid(std::process::id() as i32)
    }

    /// The parent of this process (which may be a reaper such as init once the parent died).
    #[doc(alias = "getppid")]
    pub fn parent() -> Pid {
        Pid(std::os::unix::process::parent_id() as i32)
    }
}

impl std::fmt::Display for Pid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

fn one_process(pid: Pid) -> Result<i32, SignalError> {
    if pid.0 <= 0 {
        return Err(SignalError::InvalidPid(pid.0));
    }
    Ok(pid.0)
}

/// Sends `sig` to the process `pid` (Python's `os.kill`).
///
/// A pid is recycled once its process has been reaped: for your own children prefer a
/// [`PidFd`], which always names the process it was opened for.
///
/// # Errors
///
/// [`SignalError::InvalidPid`] for `pid <= 0` (which would signal a group or every process);
/// [`SignalError::Io`] with `ESRCH` (no such process) or `EPERM` (not allowed).
///
/// # Examples
///
/// ```
/// use multiproc_signal::{kill, Pid, Signal};
/// // Signal 0 is not sent; `is_alive` does that check. SIGCONT to ourselves is harmless.
/// kill(Pid::this(), Signal::Cont)?;
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
#[doc(alias = "os.kill")]
pub fn kill(pid: Pid, sig: Signal) -> Result<(), SignalError> {
    Ok(sys::kill(one_process(pid)?, sig.checked_raw()?)?)
}

/// Sends `sig` to every process of the process group `pgid` (`killpg`).
///
/// # Errors
///
/// [`SignalError::InvalidPid`] for `pgid <= 1` (`-1` would signal every process we may);
/// [`SignalError::Io`] (`ESRCH`, `EPERM`).
#[doc(alias = "killpg")]
pub fn kill_group(pgid: Pid, sig: Signal) -> Result<(), SignalError> {
    if pgid.0 <= 1 {
        return Err(SignalError::InvalidPid(pgid.0));
    }
    Ok(sys::kill(-pgid.0, sig.checked_raw()?)?)
}

/// Whether a process with this pid exists (`kill(pid, 0)`): a zombie not yet reaped exists; a
/// process we may not signal (`EPERM`) exists.
///
/// # Errors
///
/// [`SignalError::InvalidPid`] for `pid <= 0`; other OS errors.
pub fn is_alive(pid: Pid) -> Result<bool, SignalError> {
    match sys::kill(one_process(pid)?, 0) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Sends `sig` to the calling thread; a handler for it has run (or the default action
/// happened) by the time this returns, unless the signal is blocked.
///
/// # Errors
///
/// [`SignalError::Io`] if the kernel refuses.
#[doc(alias = "raise_signal")]
pub fn raise(sig: Signal) -> Result<(), SignalError> {
    Ok(sys::raise(sig.checked_raw()?)?)
}

/// A file descriptor that names one process for as long as it is open (`pidfd_open`): signals
/// sent through it can never reach another process that later got the same pid.
///
/// Open it while the process cannot have been reaped yet — for a child of yours, before you
/// wait for it.
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: Pid,
}

impl PidFd {
    /// Opens a pidfd for `pid`.
    ///
    /// # Errors
    ///
    /// [`SignalError::InvalidPid`] for `pid <= 0`; `ESRCH` if there is no such process.
    pub fn open(pid: Pid) -> Result<PidFd, SignalError> {
        Ok(PidFd {
            fd: sys::pidfd_open(one_process(pid)?)?,
            pid,
        })
    }

    /// The pid it was opened for.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `sig` to the process (`pidfd_send_signal`).
    ///
    /// # Errors
    ///
    /// `ESRCH` once the process has exited and been reaped.
    pub fn send(&self, sig: Signal) -> Result<(), SignalError> {
        Ok(sys::pidfd_send_signal(&self.fd, sig.checked_raw()?)?)
    }
}

impl AsFd for PidFd {
    /// Readable once the process has exited (usable with `poll`).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<PidFd> for OwnedFd {
    fn from(p: PidFd) -> OwnedFd {
        p.fd
    }
}
