//! The crate's error type.

use crate::Signal;
use std::fmt;
use std::io;

/// Why a signal operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignalError {
    /// Not a signal: a number out of range, or a name that names none.
    Invalid(String),
    /// SIGKILL and SIGSTOP can be neither caught, blocked nor ignored.
    Uncatchable(Signal),
    /// SIGSEGV, SIGBUS, SIGILL and SIGFPE report faults of this very thread; a handler that
    /// returns makes the faulting instruction run again. The safe handlers refuse them.
    Fault(Signal),
    /// A multiproc handler was registered for this signal in this process, and its disposition
    /// can no longer be changed (see [`set_default`](crate::set_default)).
    HandlerRegistered(Signal),
    /// A pid that would signal more than one process, or none (`0`, `-1`, negatives): use
    /// [`kill_group`](crate::kill_group) for groups.
    InvalidPid(i32),
    /// The operating system refused (`ESRCH`: no such process; `EPERM`: not allowed; …).
    Io(io::Error),
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::Invalid(s) => write!(f, "{s:?} is not a signal"),
            SignalError::Uncatchable(s) => {
                write!(f, "{s} cannot be caught, blocked or ignored")
            }
            SignalError::Fault(s) => write!(
                f,
                "{s} reports a fault of the running thread; safe handlers refuse it"
            ),
            SignalError::HandlerRegistered(s) => write!(
                f,
                "a handler was registered for {s} in this process; its disposition is fixed"
            ),
            SignalError::InvalidPid(p) => write!(
                f,
                "pid {p} does not name one process (use kill_group for process groups)"
            ),
            SignalError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SignalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SignalError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for SignalError {
    fn from(e: io::Error) -> Self {
        SignalError::Io(e)
    }
}

impl From<SignalError> for io::Error {
    fn from(e: SignalError) -> io::Error {
        match e {
            SignalError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}
