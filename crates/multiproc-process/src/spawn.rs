//! `spawn(closure) -> JoinHandle<T>`: `std::thread::spawn`, with processes.
//!
//! The child leaves its outcome in a memfd created before the fork, framed
//! ([`crate::frame`]): a child killed while writing leaves no frame and reads as "ended without
//! a value". Everything in the file is checked before use.

use crate::child::{self, Outcome};
use crate::registry::{self, Becomes, ChildState};
use crate::{ExitStatus, JoinError, ProcessError};
use multiproc_signal::{Pid, Signal};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

const MAGIC: u32 = 0x4d50_5256; // "MPRV"
pub(crate) const KIND_VALUE: u32 = 0;
pub(crate) const KIND_PANIC: u32 = 1;
pub(crate) const KIND_ENCODE: u32 = 2;
/// A spawned child could not decode its argument.
pub(crate) const KIND_ARGUMENT: u32 = 3;

/// Starts `f` in a child process (`fork`) and returns a handle to join it: its return value
/// comes back through [`JoinHandle::join`], a panic comes back as
/// [`JoinError::Panicked`] with its message. [`Builder::spawn`](crate::Builder::spawn) names
/// it or makes it daemonic.
///
/// The value travels encoded with postcard, so `T` must be serializable; types that hold a
/// handle (a `Queue`, a `Connection`, …) cannot come back this way (send them over a pipe).
///
/// ```
/// let h = multiproc_process::spawn(|| (1..=10u64).product::<u64>())?;
/// assert_eq!(h.join()?, 3_628_800);
///
/// let h = multiproc_process::spawn(|| -> u8 { panic!("no luck") })?;
/// assert!(matches!(h.join(), Err(multiproc_process::JoinError::Panicked(m)) if m == "no luck"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`ProcessError::Io`] if the child could not be created.
pub fn spawn<F, T>(f: F) -> Result<JoinHandle<T>, ProcessError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Serialize + DeserializeOwned,
{
    crate::Builder::new().spawn(f)
}

/// Starts `f(arg)` in a child process now, under the default start method
/// ([`get_start_method`](crate::get_start_method)); [`JoinHandle::join`] gives back its value.
/// See [`Builder::spawn_fn`](crate::Builder::spawn_fn).
///
/// # Errors
///
/// As [`Builder::spawn_fn`](crate::Builder::spawn_fn).
pub fn spawn_fn<A, R>(f: fn(A) -> R, arg: A) -> Result<JoinHandle<R>, ProcessError>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    crate::Builder::new().spawn_fn(f, arg)
}

pub(crate) fn start<F, T>(becomes: Becomes, f: F) -> Result<JoinHandle<T>, ProcessError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Serialize + DeserializeOwned,
{
    let file = File::from(crate::sys::memfd(c"multiproc-result")?);
    let name = becomes.name.clone();
    let daemon = becomes.daemon;
    let state = registry::fork(becomes, |setup| {
        child::bootstrap(setup, daemon, || {
            let (kind, payload, code) = match child::catch(f) {
                Outcome::Returned(v) => match postcard::to_allocvec(&v) {
                    Ok(bytes) => (KIND_VALUE, bytes, 0),
                    Err(e) => (KIND_ENCODE, e.to_string().into_bytes(), 1),
                },
                Outcome::Panicked(msg) => (KIND_PANIC, msg.into_bytes(), 1),
                Outcome::Exit(code) => return code,
            };
            if write_outcome(&file, kind, &payload).is_err() {
                return 1;
            }
            code
        })
    })?;
    Ok(JoinHandle::new(state, name, file))
}

pub(crate) fn write_outcome(file: &File, kind: u32, payload: &[u8]) -> std::io::Result<()> {
    crate::frame::write(file, MAGIC, kind, payload)
}

/// Reads what the child left: `None` if it left nothing complete.
fn read_outcome(file: &File) -> std::io::Result<Option<(u32, Vec<u8>)>> {
    crate::frame::read(file, MAGIC)
}

/// A child started by [`spawn`]: join it for its value.
///
/// Dropping the handle never blocks: a child still running is reaped later, like a dropped
/// [`Process`](crate::Process).
pub struct JoinHandle<T> {
    state: Arc<ChildState>,
    name: String,
    /// The outcome file; `None` once the value was taken.
    file: Option<File>,
    _value: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("pid", &self.state.pid)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(state: Arc<ChildState>, name: String, file: File) -> JoinHandle<T> {
        JoinHandle {
            state,
            name,
            file: Some(file),
            _value: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> JoinHandle<T> {
    /// The child's pid.
    pub fn pid(&self) -> Pid {
        self.state.pid
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it has finished (reaping it if so): `join` will not block.
    pub fn is_finished(&self) -> bool {
        !self.state.is_alive()
    }

    /// How it ended, once it has ended and been reaped.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.state.known_exit().and_then(Result::ok)
    }

    /// Waits for the child to end and returns its value.
    ///
    /// # Errors
    ///
    /// [`JoinError::Panicked`] with the panic's message; [`JoinError::NoValue`] if it
    /// exited or was killed without returning; [`JoinError::Encode`] /
    /// [`JoinError::Decode`]; [`JoinError::Process`] if waiting failed.
    pub fn join(mut self) -> Result<T, JoinError> {
        let waited = self.state.wait(None);
        self.take(waited)
    }

    /// Waits up to `timeout`: `Ok(None)` if the child is still running (call again later).
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join); [`JoinError::AlreadyJoined`] once the value was taken.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<T>, JoinError> {
        if self.file.is_none() {
            return Err(JoinError::AlreadyJoined);
        }
        match self.state.wait(Some(timeout)) {
            Ok(None) => Ok(None),
            waited => self.take(waited).map(Some),
        }
    }

    /// Takes what the child left, once it has ended. A value it left counts even if its exit
    /// status was lost (reaped elsewhere, or its forkserver died).
    fn take(&mut self, waited: Result<Option<ExitStatus>, ProcessError>) -> Result<T, JoinError> {
        let file = self.file.take().ok_or(JoinError::AlreadyJoined)?;
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        match read_outcome(&file)? {
            Some((KIND_VALUE, bytes)) => {
                postcard::from_bytes(&bytes).map_err(|e| JoinError::Decode(e.to_string()))
            }
            Some((KIND_PANIC, bytes)) => Err(JoinError::Panicked(text(bytes))),
            Some((KIND_ARGUMENT, bytes)) => Err(JoinError::Argument(text(bytes))),
            Some((KIND_ENCODE, bytes)) => Err(JoinError::Encode(text(bytes))),
            _ => match waited {
                Ok(Some(status)) => Err(JoinError::NoValue(status)),
                Ok(None) => Err(JoinError::Process(ProcessError::Io(std::io::Error::other(
                    "waiting without a timeout returned early",
                )))),
                Err(e) => Err(JoinError::Process(e)),
            },
        }
    }

    /// Sends SIGTERM through the pidfd (nothing if it has been reaped).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Io`] if the kernel refuses.
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.state.signal(Signal::Term)
    }

    /// Sends SIGKILL through the pidfd (nothing if it has been reaped).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Io`] if the kernel refuses.
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.state.signal(Signal::Kill)
    }
}

impl<T> AsFd for JoinHandle<T> {
    /// The child's pidfd: readable once it has ended, for `poll`/`epoll`. (A child that the
    /// kernel reaped before its pidfd could be opened, because SIGCHLD is ignored, gets an
    /// eventfd that is readable already.)
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.state.sentinel()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // Reaps it if it has ended; otherwise the reaper thread will.
        if self.state.is_alive() {
            crate::registry::defer(&self.state);
        }
    }
}
