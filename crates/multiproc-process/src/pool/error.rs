//! What a pool's calls can fail with.

use crate::{ExitStatus, ProcessError};
use multiproc_signal::Pid;
use std::{fmt, io};

/// Why a [`Pool`](crate::Pool) call, or one of its tasks, has no result.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// The task panicked in its worker; the panic's message. (The worker goes on with the
    /// next task.)
    Panicked(String),
    /// The worker holding the task (receiving it, running it, or sending its result) died
    /// before the result was whole: killed by a signal, crashed, or ended by `exit`. The pool
    /// replaces it; tasks handed to it after this one had not started and run elsewhere.
    /// `status` is `None` when the exit status was lost (reaped elsewhere).
    WorkerDied {
        /// The worker's pid.
        pid: Pid,
        /// How it ended.
        status: Option<ExitStatus>,
    },
    /// The pool's initializer panicked (or its argument could not be decoded) in a worker:
    /// the pool cannot run tasks. Its message.
    Initializer(String),
    /// The timeout passed before the result was ready (the result may still come: wait or
    /// get again).
    Timeout,
    /// [`AsyncResult::successful`](crate::AsyncResult::successful) before the result is
    /// ready.
    NotReady,
    /// The pool was closed ([`Pool::close`](crate::Pool::close)): it takes no new tasks.
    Closed,
    /// [`Pool::join`](crate::Pool::join) before [`close`](crate::Pool::close) or
    /// [`terminate`](crate::Pool::terminate), or while an [`IMap`](crate::IMap) still reads
    /// its input: the workers would wait for tasks forever.
    Running,
    /// The pool was terminated (or dropped) before the task finished.
    Terminated,
    /// An argument could not be encoded for the workers (or holds a handle, which a task
    /// cannot carry); the encoder's message.
    Encode(String),
    /// A result (or, in the worker, an argument) could not be decoded, or a result could not
    /// be encoded; the codec's message.
    Decode(String),
    /// A bad parameter: no worker processes, a chunk size of 0, …
    Argument(String),
    /// The result was already taken by an earlier `get`.
    AlreadyTaken,
    /// A worker could not be started.
    Process(ProcessError),
    /// An operating system error while driving the pool.
    Io(io::Error),
}

impl PoolError {
    /// A copy for another reader of the same failure (an I/O error keeps its kind and
    /// message).
    pub(crate) fn duplicate(&self) -> PoolError {
        match self {
            PoolError::Panicked(m) => PoolError::Panicked(m.clone()),
            PoolError::WorkerDied { pid, status } => PoolError::WorkerDied {
                pid: *pid,
                status: *status,
            },
            PoolError::Initializer(m) => PoolError::Initializer(m.clone()),
            PoolError::Timeout => PoolError::Timeout,
            PoolError::NotReady => PoolError::NotReady,
            PoolError::Closed => PoolError::Closed,
            PoolError::Running => PoolError::Running,
            PoolError::Terminated => PoolError::Terminated,
            PoolError::Encode(m) => PoolError::Encode(m.clone()),
            PoolError::Decode(m) => PoolError::Decode(m.clone()),
            PoolError::Argument(m) => PoolError::Argument(m.clone()),
            PoolError::AlreadyTaken => PoolError::AlreadyTaken,
            PoolError::Process(e) => {
                PoolError::Process(ProcessError::Io(io::Error::other(e.to_string())))
            }
            PoolError::Io(e) => PoolError::Io(io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Whether the task itself failed in its worker (a panic, or a worker that died under
    /// it), as opposed to a misuse or a timeout of the caller.
    pub fn is_task_failure(&self) -> bool {
        matches!(
            self,
            PoolError::Panicked(_) | PoolError::WorkerDied { .. } | PoolError::Decode(_)
        )
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Panicked(m) => write!(f, "the task panicked: {m}"),
            PoolError::WorkerDied { pid, status } => match status {
                Some(s) => write!(f, "pool worker {pid} died before answering the task ({s})"),
                None => write!(f, "pool worker {pid} died before answering the task"),
            },
            PoolError::Initializer(m) => write!(f, "the pool's initializer failed: {m}"),
            PoolError::Timeout => f.write_str("timed out waiting for the result"),
            PoolError::NotReady => f.write_str("the result is not ready"),
            PoolError::Closed => f.write_str("the pool is closed"),
            PoolError::Running => f.write_str("the pool is still running: close it before join"),
            PoolError::Terminated => f.write_str("the pool was terminated"),
            PoolError::Encode(m) => write!(f, "the argument could not be encoded: {m}"),
            PoolError::Decode(m) => write!(f, "a task's data could not be decoded: {m}"),
            PoolError::Argument(m) => f.write_str(m),
            PoolError::AlreadyTaken => f.write_str("the result was already taken"),
            PoolError::Process(e) => write!(f, "a pool worker could not be started: {e}"),
            PoolError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Process(e) => Some(e),
            PoolError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PoolError {
    fn from(e: io::Error) -> PoolError {
        PoolError::Io(e)
    }
}

impl From<ProcessError> for PoolError {
    fn from(e: ProcessError) -> PoolError {
        PoolError::Process(e)
    }
}

impl From<PoolError> for io::Error {
    fn from(e: PoolError) -> io::Error {
        match e {
            PoolError::Io(e) => e,
            PoolError::Timeout => io::Error::new(io::ErrorKind::TimedOut, "timed out"),
            other => io::Error::other(other.to_string()),
        }
    }
}
