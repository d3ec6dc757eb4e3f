//! The low level, for the lessons of Python's `os` module: `fork`, `wait`, `waitpid`, a
//! double fork that leaves no zombie, `getpid`/`getppid`, `exit`/`_exit`.
//!
//! [`Process`](crate::Process) and [`spawn`](crate::spawn) are built on these and are what
//! programs should use; these are here to show (and test) how processes work underneath.

use crate::child::{self, ExitRequest};
use crate::registry;
use crate::status::ExitStatus;
use crate::sys;
use multiproc_signal::Pid;
use std::io::{self, Read};
use std::os::fd::AsFd;

pub use crate::sys::fork;

/// Which side of [`fork`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// The parent: the new child's pid.
    Parent(Pid),
    /// The new child.
    Child,
}

/// Options of [`waitpid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaitFlags(libc::c_int);

impl WaitFlags {
    /// Block until a child ends.
    pub const NONE: WaitFlags = WaitFlags(0);
    /// Return at once (`None`) if no child has ended (`WNOHANG`).
    pub const NOHANG: WaitFlags = WaitFlags(libc::WNOHANG);
}

/// Waits for any child of this process to end and reaps it (`os.wait()`).
///
/// It takes *any* child: also one a [`Process`](crate::Process) or another part of the
/// program is waiting for, which then reports [`ProcessError::Reaped`](crate::ProcessError).
/// Prefer [`waitpid`] with a pid.
///
/// # Errors
///
/// `ECHILD` if this process has no children.
pub fn wait() -> io::Result<(Pid, ExitStatus)> {
    match sys::waitpid(-1, 0)? {
        Some((pid, raw)) => Ok((Pid::from_raw(pid), ExitStatus::from_raw(raw))),
        None => Err(io::Error::other(
            "waitpid without WNOHANG returned no child",
        )),
    }
}

/// Waits for a child to end and reaps it (`os.waitpid(pid, options)`): `pid > 0` that child,
/// `-1` any child, `0` any child in this process group, `< -1` any child in group `-pid`.
/// With [`WaitFlags::NOHANG`], `Ok(None)` if none has ended yet.
///
/// # Errors
///
/// `ECHILD` if there is no such child (or it was reaped already); `EINVAL` for bad flags.
pub fn waitpid(pid: Pid, flags: WaitFlags) -> io::Result<Option<(Pid, ExitStatus)>> {
    Ok(sys::waitpid(pid.as_raw(), flags.0)?
        .map(|(pid, raw)| (Pid::from_raw(pid), ExitStatus::from_raw(raw))))
}

/// Runs `f` in a grandchild that is nobody's zombie (the double fork): a child forks the
/// grandchild and exits at once; this process reaps the child, and the grandchild, orphaned,
/// is adopted and later reaped by init (or the nearest subreaper). Returns the grandchild's
/// pid.
///
/// The grandchild runs `f` as a [`Process`](crate::Process) child does (under
/// `catch_unwind`, ending with `_exit`); it keeps this process's session and controlling
/// terminal (this is not `daemon(3)`).
///
/// ```
/// use std::io::Read;
///
/// let (mut rx, mut tx) = std::io::pipe()?;
/// let pid = multiproc_process::os::double_fork(move || {
///     use std::io::Write;
///     let _ = tx.write_all(b"orphan");
/// })?;
/// let mut got = String::new();
/// rx.read_to_string(&mut got)?;
/// assert_eq!(got, "orphan");
/// assert_ne!(pid, multiproc_process::os::getpid());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// `fork` failures, in this process or in the child.
pub fn double_fork(f: impl FnOnce()) -> io::Result<Pid> {
    let (mut rx, tx) = io::pipe()?;
    let mut tx = Some(tx);
    // Kept out of the closures, which the parent drops unrun while still holding the fork's
    // locks: `f`'s destructors may use this crate.
    let mut f = Some(f);
    let locks = registry::lock_for_fork().map_err(crate::ProcessError::into_io)?;
    let middle = sys::fork_diverging(|| {
        let _ = locks.become_child(None);
        let mut report = tx.take();
        let grandchild = registry::lock_for_fork().and_then(|locks| {
            Ok(sys::fork_diverging(|| {
                let setup = locks.become_child(None);
                // The grandchild keeps nothing of the report pipe.
                drop(report.take());
                let f = f.take();
                child::bootstrap(setup, false, move || {
                    if let Some(f) = f {
                        f();
                    }
                    0
                })
            })?)
        });
        let code = match (grandchild, report.as_mut()) {
            (Ok(pid), Some(report)) => {
                use std::io::Write;
                i32::from(report.write_all(&pid.to_le_bytes()).is_err())
            }
            _ => 1,
        };
        sys::exit_now(code)
    })?;
    drop(tx);
    drop(f);
    // Reap the middle child first: once it is gone, what it reported is in the pipe (or it
    // reported nothing). With SIGCHLD ignored the kernel reaped it already: `ECHILD`.
    let status = match waitpid(Pid::from_raw(middle), WaitFlags::NONE) {
        Ok(s) => s.map(|(_, s)| s),
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => None,
        Err(e) => return Err(e),
    };
    let mut buf = [0u8; 4];
    // Read only what is there: another thread's child, forked meanwhile, may hold a copy of
    // the write end, so waiting for the end of the pipe could wait for good.
    let reported = sys::poll_readable(rx.as_fd(), Some(std::time::Duration::ZERO))?
        && rx.read_exact(&mut buf).is_ok();
    match (reported, status) {
        (true, None) => Ok(Pid::from_raw(i32::from_le_bytes(buf))),
        (true, Some(s)) if s.success() => Ok(Pid::from_raw(i32::from_le_bytes(buf))),
        (_, s) => Err(io::Error::other(format!(
            "the intermediate child failed to fork: {}",
            s.map_or_else(|| "no status".to_owned(), |s| s.to_string())
        ))),
    }
}

/// This process's pid (`os.getpid()`).
pub fn getpid() -> Pid {
    Pid::this()
}

/// The parent's pid (`os.getppid()`): once the parent has died, the reaper that adopted
/// this process (init, or a subreaper).
pub fn getppid() -> Pid {
    Pid::from_raw(sys::getppid())
}

/// Ends this process with `code` (Python's `sys.exit(code)`).
///
/// Inside the body of a [`Process`](crate::Process) or [`spawn`](crate::spawn) child, it
/// unwinds to the start of the body (running destructors on the way, like an exception),
/// and the child then exits with `code` as it would on return; a `catch_unwind` on the way
/// would catch it. Elsewhere it is [`std::process::exit`]. Built with `panic = "abort"`, a
/// child aborts instead.
pub fn exit(code: i32) -> ! {
    if child::in_child_body() {
        std::panic::resume_unwind(Box::new(ExitRequest(code)))
    }
    std::process::exit(code)
}

/// Ends this process with `code` at once (`os._exit`): no destructors, no atexit handlers,
/// no flushing of stdout's buffer.
pub fn _exit(code: i32) -> ! {
    sys::exit_now(code)
}
