//! This process, its parent, its children, and the CPUs it may use.

use crate::registry::{self, ParentInfo};
use crate::sys;
use multiproc_signal::Pid;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

/// This process, as [`current_process`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    name: String,
    pid: Pid,
    daemon: bool,
}

impl CurrentProcess {
    /// Its name: `"MainProcess"` in a program's first process, the name it was started with
    /// in a child.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether it was started as a daemonic child.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Renames this process (what later calls of [`current_process`] report, and what its
    /// children see as their parent's name).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
        registry::set_current_name(self.name.clone());
    }
}

/// This process (Python's `multiprocessing.current_process()`).
///
/// ```
/// let me = multiproc_process::current_process();
/// assert_eq!(me.pid(), multiproc_process::os::getpid());
/// ```
pub fn current_process() -> CurrentProcess {
    CurrentProcess {
        name: registry::current_name(),
        pid: Pid::this(),
        daemon: registry::current_is_daemon(),
    }
}

/// The process that started this one, as [`parent_process`] sees it.
#[derive(Debug, Clone)]
pub struct ParentProcess {
    info: Arc<ParentInfo>,
}

impl ParentProcess {
    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.info.pid
    }

    /// Its name when it started this process.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Whether it is still running (through its pidfd, inherited at the fork: never confused
    /// with a process that later got the same pid).
    pub fn is_alive(&self) -> bool {
        match &self.info.pidfd {
            Some(fd) => !matches!(
                sys::poll_readable(fd.as_fd(), Some(Duration::ZERO)),
                Ok(true)
            ),
            None => sys::getppid() == self.info.pid.as_raw(),
        }
    }

    /// Waits up to `timeout` for it to end: `true` if it has (Python's `join(timeout)` on
    /// the parent process).
    ///
    /// # Errors
    ///
    /// OS errors from `poll`; [`io::ErrorKind::Unsupported`] if its pidfd is not available.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        match &self.info.pidfd {
            Some(fd) => sys::poll_readable(fd.as_fd(), Some(timeout)),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the parent's pidfd is not available",
            )),
        }
    }
}

/// The process that started this one with this crate (Python's `parent_process()`), also
/// through [`os::fork`](crate::os::fork); `None` in a program's first process and in a process
/// started by other means. For a child of the forkserver, its parent is the process that
/// asked for it, not the server.
pub fn parent_process() -> Option<ParentProcess> {
    registry::parent().map(|info| ParentProcess { info })
}

/// A child still running, as [`active_children`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// Its pid.
    pub pid: Pid,
    /// Its name.
    pub name: String,
    /// Whether it is daemonic.
    pub daemon: bool,
}

/// The children of this process that are still running, after reaping those that have ended
/// (Python's `active_children()`): their handles then report their exit status. Includes
/// children whose handle was dropped.
pub fn active_children() -> Vec<ChildInfo> {
    registry::active_children()
        .iter()
        .map(|c| ChildInfo {
            pid: c.pid,
            name: c.name.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            daemon: c.daemon,
        })
        .collect()
}

/// How many CPUs this process may run on: the size of its affinity mask (`taskset`,
/// `sched_setaffinity`), which can be fewer than the machine has. Never 0.
pub fn cpu_count() -> usize {
    sys::affinity_cpu_count()
        .ok()
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
}
