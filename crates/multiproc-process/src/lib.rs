//! Processes as easy as threads (Python's `multiprocessing.Process`, for Rust).
//!
//! - [`Process`]: configured ([`Builder`]: name, daemon), started, joined — with
//!   `join_timeout`, `is_alive`, `terminate`/`kill` through a pidfd, its [`ExitStatus`]
//!   (Python's `exitcode` view too) and a pollable [`sentinel`](Process::sentinel) (also
//!   through `AsFd`).
//! - [`spawn`]: run a closure in a child process and get its return value back from
//!   [`JoinHandle::join`], or its panic as an error; [`spawn_fn`] for a `fn` item and an
//!   argument, under any start method.
//! - [`Run`]: custom process types (Python's "subclass `Process`, override `run`").
//! - [`current_process`], [`parent_process`], [`active_children`], [`cpu_count`].
//! - [`os`]: `fork`, `wait`, `waitpid`, a double fork, `getpid`/`getppid`, `exit`/`_exit`.
//!
//! # Start methods
//!
//! - [`StartMethod::Fork`] (the default): the child is a copy of the parent, so a closure can
//!   use everything it captured; every shared object of the multiproc crates (queues, locks,
//!   values, connections) created before `start` works in the child.
//! - [`StartMethod::Spawn`]: the child is this program started afresh (`exec` of
//!   `/proc/self/exe`), single-threaded, and runs a `fn` item with an argument
//!   ([`Builder::process_fn`], [`Builder::spawn_fn`], [`spawn_fn`]); the argument is encoded,
//!   and the shared objects inside it travel as file descriptors. No change to `main` is
//!   needed: an entry hook of this crate catches the child before `main`, also in test and
//!   bench binaries.
//!
//! - [`StartMethod::Forkserver`]: the child is a fork of a server process that was started
//!   once (by `exec`, so it is single-threaded whatever this program is); `fn` items as with
//!   `Spawn`, without an `exec` per child. The recommendation for threaded programs. The
//!   server relays each child's exit status; signals go to the child through its pidfd.
//!
//! [`set_start_method`] sets the default; [`Builder::start_method`] chooses per process.
//!
//! # No hangs, no zombies, no stray signals
//!
//! - Every child is waited for through its pidfd: `join_timeout` holds its timeout, and a
//!   signal never reaches a process that later got the child's pid.
//! - A child whose handle is dropped while it runs is reaped when it ends by a reaper thread
//!   (started at the first such drop, asleep in `poll` otherwise): never a zombie.
//! - At normal exit, a process sends SIGTERM to its daemonic children (SIGKILL after a
//!   second) and waits for the others, as Python does. A daemonic child also dies when its
//!   parent is killed (even by SIGKILL), including when it was started from a thread that
//!   ended before the parent did.
//! - The child's body runs under `catch_unwind` and ends with `_exit`: a panic becomes exit
//!   code 1 (and [`JoinError::Panicked`] with its message), never a second copy of the
//!   parent's program going on.
//!
//! ```
//! use multiproc_process::{spawn, Process};
//!
//! let mut p = Process::new(|| println!("in the child"));
//! p.start()?;
//! assert_eq!(p.join()?.exitcode(), 0);
//!
//! let h = spawn(|| std::process::id())?;
//! let child_pid = h.pid();
//! assert_eq!(h.join()? as i32, child_pid.as_raw());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Linux only (pidfds and `waitid(P_PIDFD)` need Linux 5.4).

#![cfg(target_os = "linux")]

mod child;
mod current;
mod error;
mod exec;
mod forkserver;
mod frame;
mod method;
pub mod os;
mod pool;
mod process;
mod registry;
mod spawn;
mod status;
mod sys;

pub use crate::{
    current::{
        active_children, cpu_count, current_process, parent_process, ChildInfo, CurrentProcess,
        ParentProcess,
    },
    error::{JoinError, ProcessError},
    method::{get_start_method, set_start_method, StartMethod},
    pool::{AsyncResult, IMap, Pool, PoolBuilder, PoolError},
    process::{Builder, Process, Run},
    spawn::{spawn, spawn_fn, JoinHandle},
    status::ExitStatus,
};
#[doc(no_inline)]
pub use multiproc_signal::{Pid, Signal};
