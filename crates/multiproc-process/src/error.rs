//! Errors of starting, waiting for and signalling processes.

use crate::ExitStatus;
use std::{fmt, io};

/// What can go wrong with a [`Process`](crate::Process).
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// The process was not started yet (`join`, `terminate`, … before `start`).
    NotStarted,
    /// `start` was called on a process that was already started.
    AlreadyStarted,
    /// The child ended but something else reaped it first, so its exit status is lost: the
    /// process ignores `SIGCHLD` (the kernel then reaps children itself), or code outside
    /// this crate called `wait`/`waitpid(-1)`. Also what a handle says in a process that is not
    /// the child's parent (a copy inherited through a fork).
    Reaped,
    /// The forkserver that started the child died before relaying its exit status (or could
    /// not be started or reached).
    ForkserverDied,
    /// A closure can only run in a child started by [`StartMethod::Fork`]: under another
    /// start method, give the process a `fn` item and an argument
    /// ([`Builder::process_fn`](crate::Builder::process_fn),
    /// [`Builder::spawn_fn`](crate::Builder::spawn_fn)).
    ///
    /// [`StartMethod::Fork`]: crate::StartMethod::Fork
    ClosureNeedsFork(crate::StartMethod),
    /// The argument of a `fn` target could not be encoded for the child; the encoder's
    /// message.
    Argument(String),
    /// The start method cannot work in this program; why.
    Unsupported(&'static str),
    /// The operating system refused (`fork` with `EAGAIN` when out of processes, …).
    Io(io::Error),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::NotStarted => f.write_str("the process has not been started"),
            ProcessError::AlreadyStarted => f.write_str("the process was already started"),
            ProcessError::Reaped => f.write_str(
                "the child was reaped elsewhere (SIGCHLD ignored, or waitpid(-1) outside multiproc): its exit status is lost",
            ),
            ProcessError::ForkserverDied => {
                f.write_str("the forkserver died before relaying the child's exit status")
            }
            ProcessError::ClosureNeedsFork(m) => write!(
                f,
                "the {m} start method cannot run a closure: give it a fn item and an argument"
            ),
            ProcessError::Argument(msg) => write!(f, "the argument could not be encoded: {msg}"),
            ProcessError::Unsupported(why) => f.write_str(why),
            ProcessError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl ProcessError {
    /// As an `io::Error` (the misuse variants as `InvalidInput`).
    pub fn into_io(self) -> io::Error {
        match self {
            ProcessError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

impl From<io::Error> for ProcessError {
    fn from(e: io::Error) -> ProcessError {
        ProcessError::Io(e)
    }
}

/// Why [`JoinHandle::join`](crate::JoinHandle::join) has no value to give.
#[derive(Debug)]
#[non_exhaustive]
pub enum JoinError {
    /// The closure panicked; the panic's message.
    Panicked(String),
    /// The child ended without a value: it called [`exit`](crate::os::exit), or a signal
    /// killed it (SIGKILL, a segfault, …).
    NoValue(ExitStatus),
    /// The child could not encode its value (a type whose `Serialize` fails, or one holding a
    /// handle such as a `Queue`, which travels over connections only); the encoder's message.
    Encode(String),
    /// The value the child left could not be decoded as the type asked for.
    Decode(String),
    /// A child started by [`StartMethod::Spawn`](crate::StartMethod::Spawn) could not decode
    /// its argument; the decoder's message.
    Argument(String),
    /// The value was already taken by an earlier `join_timeout`.
    AlreadyJoined,
    /// Waiting or signalling failed, or the child was reaped elsewhere
    /// ([`ProcessError::Reaped`]).
    Process(ProcessError),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(msg) => write!(f, "the child panicked: {msg}"),
            JoinError::NoValue(status) => write!(f, "the child {status} without a value"),
            JoinError::Encode(msg) => write!(f, "the child could not encode its value: {msg}"),
            JoinError::Decode(msg) => write!(f, "the child's value could not be decoded: {msg}"),
            JoinError::Argument(msg) => write!(f, "the child could not decode its argument: {msg}"),
            JoinError::AlreadyJoined => f.write_str("the value was already taken"),
            JoinError::Process(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for JoinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinError::Process(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProcessError> for JoinError {
    fn from(e: ProcessError) -> JoinError {
        JoinError::Process(e)
    }
}

impl From<io::Error> for JoinError {
    fn from(e: io::Error) -> JoinError {
        JoinError::Process(ProcessError::Io(e))
    }
}
