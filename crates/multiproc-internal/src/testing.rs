//! Test support shared by every multiproc crate's tests (feature `test-support`).
//!
//! - [`fork_child`] runs a closure in a forked child under `catch_unwind` and ends it with
//!   `_exit`, so a failing child never returns into the test harness; the parent gets a
//!   [`ForkChild`] with a pidfd, a decoded [`ChildExit`] and a watchdog.
//! - [`reexec`] starts this very test binary again, running one test in a given role: the
//!   "unrelated process" of tests that open objects by name or receive them by fd.
//! - [`shm_names`] and [`fds_matching`] list what a test created, by its own unique names.
//!
//! Children are waited for by pid only: tests share a process under `cargo test`, and
//! `waitpid(-1)` would steal other tests' children.

use crate::errno::cvt;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long [`ForkChild::wait`] and [`wait_child`] let a child run before killing it and
/// failing the test.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Exit code of a child whose body panicked.
pub const PANIC_EXIT: i32 = 101;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    /// It called `_exit(code)`.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl ChildExit {
    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self == ChildExit::Exited(0)
    }

    fn from_wait_status(status: libc::c_int) -> ChildExit {
        if libc::WIFSIGNALED(status) {
            ChildExit::Signaled(libc::WTERMSIG(status))
        } else {
            ChildExit::Exited(libc::WEXITSTATUS(status))
        }
    }
}

/// A forked child: pid, pidfd, and its exit once reaped. Dropping an unreaped child kills it
/// (SIGKILL through the pidfd) and reaps it.
#[derive(Debug)]
pub struct ForkChild {
    pid: i32,
    pidfd: OwnedFd,
    exit: Option<ChildExit>,
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = cvt(fd)? as RawFd;
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pidfd_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: pidfd is a live pidfd; null siginfo and flags 0 are valid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    cvt(rc).map(drop)
}

/// Waits until the pidfd is readable (the process exited) or `timeout` passes.
fn pidfd_ready(pidfd: &OwnedFd, timeout: Option<Duration>) -> io::Result<bool> {
    crate::poll::poll_readable(pidfd.as_fd(), timeout)
}

fn reap(pid: i32) -> io::Result<ChildExit> {
    let mut status = 0;
    // SAFETY: waits for our own child by pid; `status` is a valid out-pointer.
    crate::errno::cvt_r(|| unsafe { libc::waitpid(pid, &mut status, 0) })?;
    Ok(ChildExit::from_wait_status(status))
}

/// Writes straight to fd 2: in a forked child, libtest's output capture would swallow it.
fn child_stderr(msg: &str) {
    let mut bytes = msg.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: writes from a live buffer to fd 2.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Set in a child of [`fork_child`] right after the fork.
static IN_FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// Installs, once and in the parent, a panic hook that reports a forked child's panics on fd 2
/// and hands the parent's own to the previous hook. Never in the child: replacing the hook
/// takes a lock that another thread of the parent may have held at the fork (a test panicking
/// at that moment), which would hang the child for good.
fn install_child_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_FORKED_CHILD.load(Ordering::Relaxed) {
                child_stderr(&format!("forked child {}: {info}\n", std::process::id()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Forks; the child runs `body` under `catch_unwind` and `_exit`s with 0, or
/// [`PANIC_EXIT`] if it panicked (the message goes to stderr). The child never returns.
///
/// # Panics
///
/// If `fork` or `pidfd_open` fails.
pub fn fork_child(body: impl FnOnce()) -> ForkChild {
    crate::identity::ensure_fork_handler();
    install_child_panic_hook();
    let _ = io::stdout().flush();
    // Held across the fork (in the order the process crate takes them): the child gets
    // streams no missing thread holds. (The harness prints results from its main thread; a
    // child forked while it held stdout would block at its first print, or its first
    // `Process::start`, forever.)
    let streams = (io::stdout().lock(), io::stderr().lock());
    // SAFETY: fork has no memory-safety preconditions here; the child only runs `body` and
    // `_exit`s. (The test process has other threads; the child must avoid locks they might
    // have held, which the multiproc tests do: their bodies touch shared memory and syscalls.)
    let pid = unsafe { libc::fork() };
    drop(streams);
    if pid == 0 {
        IN_FORKED_CHILD.store(true, Ordering::Relaxed);
        let code = match panic::catch_unwind(AssertUnwindSafe(body)) {
            Ok(()) => 0,
            Err(_) => PANIC_EXIT,
        };
        // SAFETY: _exit ends the child without running the harness's atexit handlers or
        // destructors of state copied from the parent.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "fork failed: {}", io::Error::last_os_error());
    let pidfd = pidfd_open(pid).expect("pidfd_open on our own child");
    ForkChild {
        pid,
        pidfd,
        exit: None,
    }
}

impl ForkChild {
    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` through the pidfd (never to a recycled pid).
    ///
    /// # Errors
    ///
    /// OS errors from `pidfd_send_signal` (`ESRCH` once it has been reaped).
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        pidfd_signal(&self.pidfd, sig)
    }

    /// SIGKILL through the pidfd.
    ///
    /// # Errors
    ///
    /// As [`ForkChild::signal`].
    pub fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Waits up to `timeout` for the child to end; `None` if it is still running.
    ///
    /// # Panics
    ///
    /// If waiting fails (it cannot for our own child).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ChildExit> {
        if let Some(e) = self.exit {
            return Some(e);
        }
        if pidfd_ready(&self.pidfd, Some(timeout)).expect("poll pidfd") {
            let e = reap(self.pid).expect("waitpid on our own child");
            self.exit = Some(e);
            return Some(e);
        }
        None
    }

    /// Waits for the child under the [`WATCHDOG`].
    ///
    /// # Panics
    ///
    /// If the watchdog expires (the child is SIGKILLed and reaped first).
    pub fn wait(mut self) -> ChildExit {
        match self.wait_timeout(WATCHDOG) {
            Some(e) => e,
            None => {
                let _ = self.kill();
                let _ = self.wait_timeout(Duration::from_secs(10));
                panic!(
                    "child {} still running after {:?}: killed",
                    self.pid, WATCHDOG
                );
            }
        }
    }

    /// Waits and asserts the child exited with 0.
    ///
    /// # Panics
    ///
    /// If it did not, or the watchdog expired.
    #[track_caller]
    pub fn assert_success(self) {
        let pid = self.pid;
        let e = self.wait();
        assert!(e.success(), "child {pid} failed: {e:?}");
    }
}

impl Drop for ForkChild {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.kill();
            let _ = reap(self.pid);
        }
    }
}

/// Environment variable naming the role of a re-executed test process.
pub const ROLE_ENV: &str = "MULTIPROC_TEST_ROLE";
/// Environment variable with the fd number of the socket a re-executed process inherited.
pub const SOCK_ENV: &str = "MULTIPROC_TEST_SOCK";

/// The role this process was re-executed in, if any. A test starts with
/// `if let Some(role) = reexec_role() { …child part…; return; }`.
pub fn reexec_role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// A command that runs this test binary again, running only `test` (its full path, as
/// libtest prints it) with [`ROLE_ENV`] set to `role`. Runs `/proc/self/exe`, not
/// `current_exe()`, so a rebuilt binary cannot be picked up.
pub fn reexec(test: &str, role: &str) -> Command {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role);
    cmd
}

/// Like [`reexec`], and hands the child one end of a Unix socket pair (as fd 3, named by
/// [`SOCK_ENV`]); returns the child and the parent's end.
///
/// # Errors
///
/// OS errors from `socketpair` or the spawn.
pub fn reexec_with_socket(test: &str, role: &str) -> io::Result<(Child, UnixStream)> {
    let (ours, theirs) = UnixStream::pair()?;
    let mut cmd = reexec(test, role);
    let raw = theirs.as_raw_fd();
    cmd.env(SOCK_ENV, "3");
    // SAFETY: the closure runs between fork and exec and only calls dup2/fcntl, which are
    // async-signal-safe. CLOEXEC is cleared in the child only (dup2 clears it on the copy).
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                cvt(libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC))?;
            } else {
                cvt(libc::dup2(raw, 3))?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(theirs);
    Ok((child, ours))
}

/// In a re-executed child: the socket inherited from [`reexec_with_socket`].
pub fn inherited_socket() -> Option<UnixStream> {
    let fd: RawFd = std::env::var(SOCK_ENV).ok()?.parse().ok()?;
    // SAFETY: the parent placed a socket at this fd for us, and nothing else in this process
    // owns it (it was inherited, not opened here).
    Some(unsafe { UnixStream::from_raw_fd(fd) })
}

/// Waits for a `std::process::Child` under `limit` (via its pidfd); kills it and panics when
/// the limit passes.
///
/// # Panics
///
/// On timeout, or if the child cannot be waited for.
pub fn wait_child(child: &mut Child, limit: Duration) -> ExitStatus {
    let pidfd = pidfd_open(child.id() as i32).expect("pidfd_open on our own child");
    if !pidfd_ready(&pidfd, Some(limit)).expect("poll pidfd") {
        let _ = pidfd_signal(&pidfd, libc::SIGKILL);
        let _ = child.wait();
        panic!(
            "re-executed child {} still running after {limit:?}: killed",
            child.id()
        );
    }
    child.wait().expect("wait on our own child")
}

/// Polls `cond` until it holds, yielding in between; panics after 10 s naming `what`. For
/// ordering by observation (a child reached a point, a bit got set), never by sleeping.
///
/// # Panics
///
/// When `cond` is still false after 10 s.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::yield_now();
    }
}

/// The scheduler state letter (`R`, `S`, `D`, `T`, `Z`, …) of a process or thread, from
/// `/proc/<id>/stat`; `None` once it is gone. `S` is "sleeping in the kernel", a futex or a
/// socket here.
pub fn process_state(id: i32) -> Option<char> {
    crate::block::process_stat(id).map(|(state, _)| char::from(state))
}

/// Waits until process or thread `id` sleeps in the kernel.
///
/// # Panics
///
/// When it has not after 10 s.
#[track_caller]
pub fn until_asleep(id: i32) {
    wait_until("the process to sleep", || process_state(id) == Some('S'));
}

/// A name unique to one test run: `multiproc-test-<tag>-<random>`. Tests use it for every
/// named object, and to find what they leaked.
pub fn test_name(tag: &str) -> String {
    format!("multiproc-test-{tag}-{:016x}", crate::block::random_u64())
}

/// Entries of `/dev/shm` whose names start with `prefix`.
pub fn shm_names(prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// This process's open fds whose `/proc/self/fd` link contains `pattern` (a memfd shows as
/// `/memfd:<name> (deleted)`), with their targets.
pub fn fds_matching(pattern: &str) -> Vec<(RawFd, String)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let fd: RawFd = e.file_name().to_str()?.parse().ok()?;
        let target = std::fs::read_link(e.path()).ok()?;
        let target = target.to_string_lossy().into_owned();
        target.contains(pattern).then_some((fd, target))
    })
    .collect()
}

/// An int socket option (`getsockopt`).
///
/// # Errors
///
/// OS errors of `getsockopt`.
pub fn socket_option(
    fd: std::os::fd::BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes (one int) into `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Sets an int socket option (`setsockopt`), as a peer handing over a socket might have.
///
/// # Errors
///
/// OS errors of `setsockopt`.
pub fn set_socket_option(
    fd: std::os::fd::BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the kernel reads one int from the live `value`.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An fd's descriptor flags (`F_GETFD`) and status flags (`F_GETFL`).
///
/// # Errors
///
/// OS errors of `fcntl`.
pub fn fd_flags(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<(libc::c_int, libc::c_int)> {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFD and F_GETFL take no argument and only read the fd's flags.
    let (d, l) = unsafe {
        (
            libc::fcntl(fd.as_raw_fd(), libc::F_GETFD),
            libc::fcntl(fd.as_raw_fd(), libc::F_GETFL),
        )
    };
    if d < 0 || l < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((d, l))
}

/// Whether `fd` polls readable within `timeout`: what an event loop waiting on it sees.
///
/// # Panics
///
/// If `poll(2)` fails.
pub fn fd_readable(fd: std::os::fd::BorrowedFd<'_>, timeout: Duration) -> bool {
    crate::poll::poll_readable(fd, Some(timeout)).expect("poll")
}

/// Narrows this process's CPU affinity mask to the first CPU it may run on now, and returns
/// that CPU. Only for a sandbox child (`fork_child`, whose only thread this is): the mask is
/// inherited by children.
///
/// # Errors
///
/// The OS error of `sched_getaffinity` / `sched_setaffinity`.
pub fn pin_to_first_allowed_cpu() -> io::Result<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid out-pointer of the size passed.
    cvt(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    // SAFETY: CPU_ISSET only reads the set; the index is below CPU_SETSIZE.
    let cpu = (0..libc::CPU_SETSIZE as usize)
        .find(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .ok_or_else(|| io::Error::other("an empty affinity mask"))?;
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `one`; the index is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: `one` is a valid set of the size passed.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) })?;
    Ok(cpu)
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`): orphans among its
/// descendants are adopted by it instead of init, so it can wait for them by pid. Only for a
/// sandbox child (`fork_child`), never the shared test process.
///
/// # Errors
///
/// The OS error of `prctl`.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes a flag; the other arguments are unused.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// Guards a test that could hang in this process (a receive on a peer that never answers):
/// if it is still alive after `limit`, the whole test process aborts with the test's name,
/// which fails the run instead of hanging it. Dropping the guard disarms it.
#[must_use = "the watchdog is disarmed when the guard drops"]
pub fn watchdog(limit: Duration) -> Watchdog {
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let seen = done.clone();
    let name = std::thread::current().name().unwrap_or("a test").to_owned();
    let start = std::time::Instant::now();
    std::thread::spawn(move || {
        while !seen.load(Ordering::Acquire) {
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                eprintln!("watchdog: {name} still running after {limit:?}: aborting");
                std::process::abort();
            }
            std::thread::park_timeout(left.min(Duration::from_millis(100)));
        }
    });
    Watchdog { done }
}

/// Disarms its [`watchdog`] when dropped.
#[derive(Debug)]
pub struct Watchdog {
    done: std::sync::Arc<AtomicBool>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
    }
}
