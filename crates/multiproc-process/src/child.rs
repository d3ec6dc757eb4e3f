//! What runs in a new child: watching the parent (daemons), the body under `catch_unwind`,
//! the child's own children at the end, and `_exit`.

use crate::registry::{self, ChildSetup};
use crate::sys;
use multiproc_signal::{Pid, Signal};
use std::any::Any;
use std::cell::Cell;
use std::io::Write;
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};

/// In a forkserver's worker: the write end of the pipe on which its client learns its exit
/// status (the server relays it there once it has reaped the worker). The worker writes its
/// own exit code there just before it ends, so that the client, woken by the worker's pidfd,
/// finds it at once instead of waiting for the server to wake, reap and relay. -1: none.
/// Closed in the child of every fork: only the worker itself reports.
static EXIT_REPORT: AtomicI32 = AtomicI32::new(-1);

/// Makes this process (a forkserver's worker) report its exit code on `fd` when it ends.
pub(crate) fn report_exit_on(fd: OwnedFd) {
    let old = EXIT_REPORT.swap(fd.into_raw_fd(), Ordering::AcqRel);
    sys::close_raw(old);
}

/// Takes the report fd, if there is one, leaving none (async-signal-safe). Writes nothing
/// when there is none: in a forked child, every page written is first copied (a fault of
/// microseconds), and the child of an ordinary start has no report fd.
fn take_exit_report() -> i32 {
    if EXIT_REPORT.load(Ordering::Acquire) == -1 {
        return -1;
    }
    EXIT_REPORT.swap(-1, Ordering::AcqRel)
}

/// Closes the report fd inherited by the child of a fork (async-signal-safe).
pub(crate) fn forget_exit_report() {
    sys::close_raw(take_exit_report());
}

thread_local! {
    /// Set on the thread that runs a child's body, while it runs.
    static IN_CHILD_BODY: Cell<bool> = const { Cell::new(false) };
}

/// The unwinding payload of [`crate::os::exit`] inside a child's body.
pub(crate) struct ExitRequest(pub(crate) i32);

/// Whether the calling thread is running a child's body (so `exit` can unwind to it).
pub(crate) fn in_child_body() -> bool {
    IN_CHILD_BODY.with(Cell::get)
}

/// How a body ended.
pub(crate) enum Outcome<T> {
    Returned(T),
    Panicked(String),
    Exit(i32),
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    }
}

/// Runs `f`, turning a panic or an [`ExitRequest`] into an [`Outcome`].
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Outcome<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Outcome::Returned(v),
        Err(payload) => match payload.downcast::<ExitRequest>() {
            Ok(req) => Outcome::Exit(req.0),
            Err(payload) => Outcome::Panicked(panic_message(&*payload)),
        },
    }
}

fn die() -> ! {
    let _ = multiproc_signal::kill(Pid::this(), Signal::Kill);
    sys::exit_now(137)
}

/// A daemonic child dies with its parent, also when the parent is SIGKILLed.
///
/// Forked from the parent's main thread, `PR_SET_PDEATHSIG` does it (it fires when the
/// forking thread exits, which for the main thread means the process). Forked from another
/// thread, which may exit long before the process, a watcher thread waits on the parent's
/// pidfd instead. Either way a parent that died before the watch was set is noticed at once.
fn watch_parent(setup: &ChildSetup) {
    if !setup.parent_main_thread {
        if let Some(fd) = registry::parent()
            .and_then(|p| p.pidfd.clone())
            .and_then(|fd| fd.try_clone().ok())
        {
            let watcher = std::thread::Builder::new()
                .name("multiproc-parent-watch".into())
                .spawn(move || {
                    if let Ok(true) = sys::poll_readable(fd.as_fd(), None) {
                        die();
                    }
                });
            if watcher.is_ok() {
                return;
            }
        }
    }
    if sys::set_parent_death_signal(libc::SIGKILL).is_err()
        || sys::getppid() != setup.parent_pid.as_raw()
    {
        die();
    }
}

/// Runs a child's `body` and ends the process with the exit code it returns: 1 if it
/// panicked, `n` if it called [`crate::os::exit`]`(n)`. Before `_exit`, the child's own
/// children are finished (daemonic ones terminated, the others joined) and stdout flushed.
pub(crate) fn bootstrap(setup: ChildSetup, daemon: bool, body: impl FnOnce() -> i32) -> ! {
    if daemon {
        watch_parent(&setup);
    }
    IN_CHILD_BODY.with(|c| c.set(true));
    let code = match catch(body) {
        Outcome::Returned(code) | Outcome::Exit(code) => code,
        Outcome::Panicked(_) => 1,
    };
    IN_CHILD_BODY.with(|c| c.set(false));
    let _ = panic::catch_unwind(registry::finish_children);
    let _ = std::io::stdout().flush();
    sys::report_exit(take_exit_report(), code);
    sys::exit_now(code)
}
