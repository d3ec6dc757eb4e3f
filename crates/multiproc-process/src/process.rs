//! `Process`: Python's `multiprocessing.Process`, started by `fork`.

use crate::child;
use crate::exec::{self, EncodedJob};
use crate::registry::{self, Becomes, ChildState};
use crate::spawn::JoinHandle;
use crate::{sys, StartMethod};
use crate::{ExitStatus, ProcessError};
use multiproc_signal::{Pid, Signal};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

/// A custom process type: Python's "subclass `Process` and override `run`".
///
/// ```
/// use multiproc_process::{Process, Run};
///
/// struct Counter { upto: u32 }
///
/// impl Run for Counter {
///     fn run(self) {
///         let total: u32 = (1..=self.upto).sum();
///         assert_eq!(total, 55);
///     }
/// }
///
/// let mut p = Process::from_run(Counter { upto: 10 });
/// p.start()?;
/// assert!(p.join()?.success());
/// # Ok::<(), multiproc_process::ProcessError>(())
/// ```
pub trait Run {
    /// The body of the process, run in the child.
    fn run(self);
}

/// What a process runs.
enum Target {
    /// A closure: `fork` only.
    Closure(Box<dyn FnOnce() + Send + 'static>),
    /// A `fn` item and its argument: any start method.
    Fn(Box<dyn FnTarget>),
}

/// A `fn` item with its argument, type-erased.
trait FnTarget: Send {
    /// Runs it here (in a forked child).
    fn run_here(self: Box<Self>);
    /// Encodes it for a child started by `exec`.
    fn encode(&self) -> Result<EncodedJob, ProcessError>;
}

struct UnitFn<A> {
    f: fn(A),
    arg: A,
}

impl<A: Serialize + DeserializeOwned + Send + 'static> FnTarget for UnitFn<A> {
    fn run_here(self: Box<Self>) {
        (self.f)(self.arg);
    }

    fn encode(&self) -> Result<EncodedJob, ProcessError> {
        let (arg, collected) = exec::encode_arg(&self.arg, true)?;
        Ok(EncodedJob {
            trampoline: sys::unit_trampoline::<A>,
            func: self.f as usize,
            arg,
            collected,
        })
    }
}

fn run_it<R: Run>(r: R) {
    r.run();
}

/// Options for a new process: its name and whether it is daemonic (`std::thread::Builder`,
/// for processes).
///
/// ```
/// use multiproc_process::Builder;
///
/// let mut p = Builder::new().name("worker").daemon(true).process(|| {
///     assert_eq!(multiproc_process::current_process().name(), "worker");
/// });
/// p.start()?;
/// assert!(p.join()?.success());
/// # Ok::<(), multiproc_process::ProcessError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
    method: Option<StartMethod>,
}

impl Builder {
    /// Default options: named `Process-N`, not daemonic.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the process (seen in [`current_process`](crate::current_process) inside it and in
    /// [`active_children`](crate::active_children)). The default is Python's: `Process-N`,
    /// numbered per creating process, `Process-1:2` for the second child of `Process-1`.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// A daemonic process is killed when its parent ends: SIGTERM when the parent exits
    /// normally (then SIGKILL after a second), SIGKILL when the parent dies any other way,
    /// also by SIGKILL. A process that is not daemonic outlives its parent's death, and a
    /// parent that exits normally waits for it first (Python's behaviour).
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = daemon;
        self
    }

    /// How the process is started ([`StartMethod`]); without this, the process-wide default
    /// ([`get_start_method`](crate::get_start_method)) when the process is made.
    pub fn start_method(mut self, method: StartMethod) -> Builder {
        self.method = Some(method);
        self
    }

    fn identity(self) -> (Becomes, StartMethod) {
        let lineage = registry::next_identity();
        let name = self
            .name
            .unwrap_or_else(|| registry::default_name(&lineage));
        let method = self.method.unwrap_or_else(crate::get_start_method);
        (
            Becomes {
                name,
                lineage,
                daemon: self.daemon,
            },
            method,
        )
    }

    fn make(self, target: Target) -> Process {
        let (becomes, method) = self.identity();
        Process {
            target: Some(target),
            name: becomes.name,
            lineage: becomes.lineage,
            daemon: becomes.daemon,
            method,
            child: None,
        }
    }

    /// A process that will run `target` when started. Closures run only under
    /// [`StartMethod::Fork`]: starting one under another method is
    /// [`ProcessError::ClosureNeedsFork`].
    pub fn process(self, target: impl FnOnce() + Send + 'static) -> Process {
        self.make(Target::Closure(Box::new(target)))
    }

    /// A process that will run `f(arg)` when started, under any start method (Python's
    /// `Process(target=f, args=(arg,))`). Under [`StartMethod::Spawn`], `arg` is encoded
    /// (postcard) when the process starts; handles inside it (a `Queue`, a `Lock`, a
    /// `Connection`, …) travel as file descriptors, and connection ends move to the child.
    ///
    /// ```
    /// use multiproc_process::{Builder, StartMethod};
    ///
    /// fn greet(who: String) {
    ///     assert_eq!(who, "world");
    /// }
    ///
    /// let mut p = Builder::new()
    ///     .start_method(StartMethod::Spawn)
    ///     .process_fn(greet, "world".to_owned());
    /// p.start()?;
    /// assert!(p.join()?.success());
    /// # Ok::<(), multiproc_process::ProcessError>(())
    /// ```
    pub fn process_fn<A>(self, f: fn(A), arg: A) -> Process
    where
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        self.make(Target::Fn(Box::new(UnitFn { f, arg })))
    }

    /// A process that will run `r.run()` when started (a closure: [`StartMethod::Fork`]
    /// only; see [`run_serialized`](Builder::run_serialized) for the others).
    pub fn run<R: Run + Send + 'static>(self, r: R) -> Process {
        self.process(move || r.run())
    }

    /// A process that will run `r.run()` when started, under any start method: `r` travels
    /// to the child encoded, as [`process_fn`](Builder::process_fn)'s argument does.
    ///
    /// ```
    /// use multiproc_process::{Builder, Run, StartMethod};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Job {
    ///     n: u32,
    /// }
    ///
    /// impl Run for Job {
    ///     fn run(self) {
    ///         assert_eq!(self.n, 7);
    ///     }
    /// }
    ///
    /// let mut p = Builder::new()
    ///     .start_method(StartMethod::Spawn)
    ///     .run_serialized(Job { n: 7 });
    /// p.start()?;
    /// assert!(p.join()?.success());
    /// # Ok::<(), multiproc_process::ProcessError>(())
    /// ```
    pub fn run_serialized<R>(self, r: R) -> Process
    where
        R: Run + Serialize + DeserializeOwned + Send + 'static,
    {
        self.process_fn(run_it::<R>, r)
    }

    /// Starts `f` in a child process now; [`JoinHandle::join`] gives back its value, or its
    /// panic as an error (`std::thread::spawn`, for processes).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Io`] if the child could not be created (`fork` or `memfd_create`
    /// refused).
    pub fn spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, ProcessError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Serialize + DeserializeOwned,
    {
        let (becomes, method) = self.identity();
        if !method.runs_closures() {
            return Err(ProcessError::ClosureNeedsFork(method));
        }
        crate::spawn::start(becomes, f)
    }

    /// Starts `f(arg)` in a child process now, under any start method, and returns a handle
    /// whose [`join`](JoinHandle::join) gives back its value (see
    /// [`process_fn`](Builder::process_fn) for the argument).
    ///
    /// ```
    /// use multiproc_process::{Builder, StartMethod};
    ///
    /// fn square(n: u64) -> u64 {
    ///     n * n
    /// }
    ///
    /// let h = Builder::new().start_method(StartMethod::Spawn).spawn_fn(square, 12)?;
    /// assert_eq!(h.join()?, 144);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ProcessError::Argument`] if `arg` cannot be encoded; [`ProcessError::Io`] if the
    /// child could not be created.
    pub fn spawn_fn<A, R>(self, f: fn(A) -> R, arg: A) -> Result<JoinHandle<R>, ProcessError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let (becomes, method) = self.identity();
        match method {
            StartMethod::Fork => crate::spawn::start(becomes, move || f(arg)),
            StartMethod::Spawn | StartMethod::Forkserver => {
                let (bytes, collected) = exec::encode_arg(&arg, true)?;
                let job = EncodedJob {
                    trampoline: sys::value_trampoline::<A, R>,
                    func: f as usize,
                    arg: bytes,
                    collected,
                };
                exec::start_with_value(job, becomes, method)
            }
        }
    }
}

/// A process: configured, then started, then joined — Python's `Process`, with the same
/// lifecycle and the same view of it before `start` (not alive, no pid, no exit code).
///
/// Started by `fork`: the target closure runs in a copy of this process and may use anything
/// it captured or borrowed from it. Forking a multi-threaded program copies only the calling
/// thread: the child must not rely on locks another thread held at that moment. The crate
/// holds its own locks and std's stdout and stderr across the fork, so the child can print
/// (output captured by a test harness goes through the harness's own buffer instead, which
/// is not covered); [`StartMethod::Forkserver`] avoids the hazard altogether.
///
/// The child ends with exit code 0 when the target returns, 1 when it panics, and `n` when it
/// calls [`os::exit(n)`](crate::os::exit); before exiting it terminates its own daemonic
/// children and joins the others, and flushes stdout.
///
/// Dropping a `Process` never blocks: a child still running is reaped when it ends, by a
/// reaper thread started at the first such drop.
///
/// ```
/// use multiproc_process::Process;
///
/// let mut p = Process::new(|| println!("hello from the child"));
/// assert!(!p.is_alive() && p.pid().is_none());
/// p.start()?;
/// assert!(p.pid().is_some());
/// let status = p.join()?;
/// assert_eq!(status.exitcode(), 0);
/// assert!(!p.is_alive());
/// # Ok::<(), multiproc_process::ProcessError>(())
/// ```
pub struct Process {
    target: Option<Target>,
    name: String,
    lineage: Vec<u32>,
    daemon: bool,
    method: StartMethod,
    child: Option<Arc<ChildState>>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("start_method", &self.method)
            .field("pid", &self.pid())
            .field("exit_status", &self.exit_status())
            .finish()
    }
}

impl Process {
    /// A process that will run `target`, with default options ([`Builder`] sets others).
    pub fn new(target: impl FnOnce() + Send + 'static) -> Process {
        Builder::new().process(target)
    }

    /// A process that will run `r.run()` ([`Run`]: a custom process type).
    pub fn from_run<R: Run + Send + 'static>(r: R) -> Process {
        Builder::new().run(r)
    }

    /// A process that will run `f(arg)`, under any start method, with default options
    /// ([`Builder::process_fn`]).
    pub fn from_fn<A>(f: fn(A), arg: A) -> Process
    where
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        Builder::new().process_fn(f, arg)
    }

    /// How it is (or will be) started.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// Starts the child, by its [`StartMethod`].
    ///
    /// # Errors
    ///
    /// [`ProcessError::AlreadyStarted`] the second time; [`ProcessError::ClosureNeedsFork`]
    /// for a closure under another start method; [`ProcessError::Argument`] if a `fn`
    /// target's argument cannot be encoded; [`ProcessError::Io`] if the child could not be
    /// created (the process can be started again later).
    pub fn start(&mut self) -> Result<(), ProcessError> {
        if self.child.is_some() {
            return Err(ProcessError::AlreadyStarted);
        }
        let daemon = self.daemon;
        let becomes = Becomes {
            name: self.name.clone(),
            lineage: self.lineage.clone(),
            daemon,
        };
        let state = match (&self.target, self.method) {
            (Some(Target::Closure(_)), method) if !method.runs_closures() => {
                return Err(ProcessError::ClosureNeedsFork(method));
            }
            (Some(Target::Fn(target)), StartMethod::Spawn) => {
                exec::start(target.encode()?, becomes, None)?
            }
            (Some(Target::Fn(target)), StartMethod::Forkserver) => {
                crate::forkserver::start(target.encode()?, becomes, None)?
            }
            _ => {
                let target = &mut self.target;
                registry::fork(becomes, |setup| {
                    let target = target.take();
                    child::bootstrap(setup, daemon, move || {
                        match target {
                            Some(Target::Closure(f)) => f(),
                            Some(Target::Fn(f)) => f.run_here(),
                            None => {}
                        }
                        0
                    })
                })?
            }
        };
        self.target = None;
        self.child = Some(state);
        Ok(())
    }

    fn started(&self) -> Result<&ChildState, ProcessError> {
        self.child.as_deref().ok_or(ProcessError::NotStarted)
    }

    /// Its pid, once started.
    pub fn pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| c.pid)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames it (in this process's view: the child keeps the name it started with).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
        if let Some(c) = &self.child {
            *c.name.lock().unwrap_or_else(|p| p.into_inner()) = self.name.clone();
        }
    }

    /// Whether it is daemonic ([`Builder::daemon`]).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Whether it has been started and has not ended. Reaps it if it has ended.
    pub fn is_alive(&self) -> bool {
        self.child.as_ref().is_some_and(|c| c.is_alive())
    }

    /// How it ended, once it has ended and been reaped (by [`join`](Self::join),
    /// [`is_alive`](Self::is_alive), [`active_children`](crate::active_children), …).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child
            .as_ref()
            .and_then(|c| c.known_exit())
            .and_then(Result::ok)
    }

    /// Python's `exitcode`: `None` while it runs, its exit code, or `-N` if signal `N`
    /// killed it.
    pub fn exitcode(&self) -> Option<i32> {
        self.exit_status().map(ExitStatus::exitcode)
    }

    /// Waits for it to end.
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`]; [`ProcessError::Reaped`] if something outside this
    /// crate reaped it (SIGCHLD ignored, `waitpid(-1)`).
    pub fn join(&mut self) -> Result<ExitStatus, ProcessError> {
        match self.started()?.wait(None)? {
            Some(status) => Ok(status),
            None => Err(ProcessError::Io(std::io::Error::other(
                "waiting without a timeout returned early",
            ))),
        }
    }

    /// Waits up to `timeout` for it to end: `Ok(None)` if it is still running. Returns no
    /// earlier than `timeout` unless the process ended.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, ProcessError> {
        self.started()?.wait(Some(timeout))
    }

    /// Sends SIGTERM (Python's `terminate`). Nothing happens if it has already ended and
    /// been reaped; the signal always goes through the pidfd, never to a recycled pid.
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`]; [`ProcessError::Io`] if the kernel refuses.
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.started()?.signal(Signal::Term)
    }

    /// Sends SIGKILL (Python's `kill`), as [`terminate`](Self::terminate) does SIGTERM.
    ///
    /// # Errors
    ///
    /// As [`terminate`](Self::terminate).
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.started()?.signal(Signal::Kill)
    }

    /// Sends any signal, as [`terminate`](Self::terminate) does SIGTERM.
    ///
    /// # Errors
    ///
    /// As [`terminate`](Self::terminate).
    pub fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        self.started()?.signal(sig)
    }

    /// Python's `sentinel`: a pidfd that becomes readable when the process ends, to wait
    /// on in `poll`/`epoll` beside other fds.
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`].
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        Ok(self.started()?.sentinel())
    }
}

impl std::os::fd::AsFd for Process {
    /// What [`sentinel`](Process::sentinel) gives, for `poll`/`epoll` and async runtimes: the
    /// child's pidfd, readable once it has ended. Before [`start`](Process::start), an fd
    /// that never becomes readable (the process has not ended: it has not begun), shared by
    /// every unstarted `Process` of this process.
    ///
    /// # Panics
    ///
    /// Before `start`, if that shared fd cannot be made (the first time only: the process has
    /// no fd left).
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.child {
            Some(c) => c.sentinel(),
            None => never_ready(),
        }
    }
}

/// An eventfd nobody writes: never readable. Made at first use.
fn never_ready() -> BorrowedFd<'static> {
    use std::os::fd::{AsFd, OwnedFd};
    static NEVER: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    NEVER
        .get_or_init(|| {
            sys::counter_eventfd()
                .unwrap_or_else(|e| panic!("no fd for an unstarted process's sentinel: {e}"))
        })
        .as_fd()
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // Reaps it if it has ended; otherwise the reaper thread will.
            if c.is_alive() {
                registry::defer(c);
            }
        }
    }
}
