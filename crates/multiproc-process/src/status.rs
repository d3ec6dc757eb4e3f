//! How a child process ended.

use crate::sys::RawExit;
use multiproc_signal::Signal;
use std::fmt;

/// How a process ended: it exited with a code, or a signal killed it.
///
/// Python's `Process.exitcode` folds both into one integer (`-N` for signal `N`); that view is
/// [`ExitStatus::exitcode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code (0–255: the kernel keeps the low 8 bits of `exit(code)`).
    Exited(i32),
    /// A signal killed it.
    Signaled {
        /// The signal.
        signal: Signal,
        /// Whether it left a core dump.
        core_dumped: bool,
    },
}

impl ExitStatus {
    pub(crate) fn from_raw(raw: RawExit) -> ExitStatus {
        match raw {
            RawExit::Exited(code) => ExitStatus::Exited(code),
            RawExit::Signaled(sig, core_dumped) => ExitStatus::Signaled {
                // The kernel reports real signal numbers only; SIGKILL stands in for the
                // impossible case.
                signal: Signal::from_raw(sig).unwrap_or(Signal::Kill),
                core_dumped,
            },
        }
    }

    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The exit code, if it exited.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(code) => Some(code),
            ExitStatus::Signaled { .. } => None,
        }
    }

    /// The signal that killed it, if one did.
    pub fn signal(self) -> Option<Signal> {
        match self {
            ExitStatus::Exited(_) => None,
            ExitStatus::Signaled { signal, .. } => Some(signal),
        }
    }

    /// Python's `exitcode`: the exit code, or `-N` when signal `N` killed it.
    ///
    /// ```
    /// use multiproc_process::ExitStatus;
    /// use multiproc_signal::Signal;
    /// assert_eq!(ExitStatus::Exited(3).exitcode(), 3);
    /// let killed = ExitStatus::Signaled { signal: Signal::Term, core_dumped: false };
    /// assert_eq!(killed.exitcode(), -15);
    /// ```
    pub fn exitcode(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled { signal, .. } => -signal.as_raw(),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited with code {code}"),
            ExitStatus::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by {signal}")?;
                if *core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}
