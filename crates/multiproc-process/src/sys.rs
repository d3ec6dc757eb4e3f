//! Every system call of this crate, and so every `unsafe` block.

use multiproc_internal::errno::{cvt, cvt_r};
use std::convert::Infallible;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// How a process ended, as the kernel reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawExit {
    /// `_exit(code)`; the low 8 bits.
    Exited(i32),
    /// Killed by this signal number; `true` if it dumped core.
    Signaled(i32, bool),
}

impl RawExit {
    fn from_wait_status(status: libc::c_int) -> RawExit {
        if libc::WIFSIGNALED(status) {
            RawExit::Signaled(libc::WTERMSIG(status), libc::WCOREDUMP(status))
        } else {
            RawExit::Exited(libc::WEXITSTATUS(status))
        }
    }
}

/// Forks; the child runs `child`, which cannot return (it ends the process), and the parent
/// gets the child's pid (`child` is dropped there unrun).
///
/// The child of a multi-threaded process has only the calling thread: `child` must not rely
/// on locks another thread held at the moment of the fork (the callers hold the crate's own
/// and std's stdout/stderr across it). glibc's `fork` runs the `pthread_atfork` handlers,
/// malloc's among them, so the child's allocator is usable.
pub(crate) fn fork_diverging(child: impl FnOnce() -> Infallible) -> io::Result<libc::pid_t> {
    // SAFETY: the child never returns from this function (`child` cannot return), so no
    // code that assumes it is the parent runs in it.
    match cvt(unsafe { libc::fork() })? {
        // `child()` cannot return: the empty match only names its type.
        #[allow(unreachable_code)]
        0 => match child() {},
        pid => Ok(pid),
    }
}

/// Python's `os.fork()`: [`Fork::Child`](crate::os::Fork::Child) in the new child,
/// [`Fork::Parent`](crate::os::Fork::Parent) with its pid in this process.
///
/// The child is not tracked as a [`Process`](crate::Process) is: wait for it with
/// [`waitpid`](crate::os::waitpid). In the child, [`parent_process`](crate::parent_process)
/// names this process.
///
/// Prefer [`Process`](crate::Process) or [`spawn`](crate::spawn): they run the child's body
/// under `catch_unwind` and end it with `_exit`, which is what makes them safe.
///
/// # Safety
///
/// Both processes return from this call and go on running the same code:
///
/// - The child must never return into code that assumes it is still the parent — in a test,
///   into the test harness (which would go on running the remaining tests in the child). End
///   it with [`_exit`](crate::os::_exit).
/// - The child of a multi-threaded process has only the calling thread. Until it ends, it
///   must not touch anything another thread may have held locked at the moment of the fork
///   (POSIX allows only async-signal-safe functions). This crate holds its own locks and
///   std's stdout and stderr across the fork, and glibc resets malloc's.
///
/// # Errors
///
/// `EAGAIN` (out of processes), `ENOMEM`; or the pidfd of this process could not be opened.
///
/// # Examples
///
/// ```
/// use multiproc_process::os::{self, Fork, WaitFlags};
///
/// // SAFETY: the child only calls `_exit`.
/// match unsafe { os::fork() }? {
///     Fork::Child => os::_exit(7),
///     Fork::Parent(child) => {
///         let (pid, status) = os::waitpid(child, WaitFlags::NONE)?.expect("a blocking wait");
///         assert_eq!(pid, child);
///         assert_eq!(status.code(), Some(7));
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn fork() -> io::Result<crate::os::Fork> {
    let locks = crate::registry::lock_for_fork().map_err(crate::ProcessError::into_io)?;
    // SAFETY: forwarded to the caller (see above).
    match cvt(unsafe { libc::fork() })? {
        0 => {
            locks.become_child(None);
            Ok(crate::os::Fork::Child)
        }
        pid => Ok(crate::os::Fork::Parent(multiproc_signal::Pid::from_raw(
            pid,
        ))),
    }
}

/// `_exit(code)`: ends the process now, without atexit handlers or destructors.
///
/// Made as the raw `exit_group` system call: `syscall` is bound already (the parent used it
/// for `pidfd_open`), while a first call of glibc's `_exit` in each new child would go through
/// the dynamic linker's lazy binding, which writes (and so copies) pages the child shares
/// with its parent.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: exit_group has no preconditions and does not return.
    unsafe { libc::syscall(libc::SYS_exit_group, code) };
    // SAFETY: reached only if the system call somehow returned; _exit never returns.
    unsafe { libc::_exit(code) }
}

/// `pidfd_open(pid, 0)`: a close-on-exec fd naming that process.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; it returns a new fd or -1.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`.
pub(crate) fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: `fd` is an open fd for the duration of the call; a null siginfo and flags 0
    // are valid arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    cvt(rc).map(drop)
}

/// `waitid(P_PIDFD, fd, WEXITED [| WNOHANG])`: reaps the child named by the pidfd.
/// `Ok(None)` if `nohang` and it is still running.
pub(crate) fn waitid_pidfd(fd: BorrowedFd<'_>, nohang: bool) -> io::Result<Option<RawExit>> {
    let mut flags = libc::WEXITED;
    if nohang {
        flags |= libc::WNOHANG;
    }
    // SAFETY: an all-zero siginfo_t is a valid value to pass as the out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-pointer; P_PIDFD takes the fd as the id.
    cvt_r(|| unsafe {
        libc::waitid(
            libc::P_PIDFD,
            fd.as_raw_fd() as libc::id_t,
            &mut info,
            flags,
        )
    })?;
    // SAFETY: waitid filled in `info` (or left it zeroed with WNOHANG): si_pid and si_status
    // are the fields it sets for child reports.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => RawExit::Exited(status),
        libc::CLD_DUMPED => RawExit::Signaled(status, true),
        _ => RawExit::Signaled(status, false),
    }))
}

/// Whether the pidfd names a child of this process that has not been reaped
/// (`waitid(P_PIDFD, WEXITED | WNOHANG | WNOWAIT)` does not fail with `ECHILD`).
pub(crate) fn is_own_child(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value to pass as the out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-pointer; WNOWAIT leaves the child as it is.
    let rc = cvt_r(|| unsafe {
        libc::waitid(
            libc::P_PIDFD,
            fd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    });
    !matches!(rc, Err(e) if e.raw_os_error() == Some(libc::ECHILD))
}

/// `waitpid(pid, flags)`: `Ok(None)` when `WNOHANG` was given and no child has ended.
pub(crate) fn waitpid(
    pid: libc::pid_t,
    flags: libc::c_int,
) -> io::Result<Option<(libc::pid_t, RawExit)>> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let got = cvt_r(|| unsafe { libc::waitpid(pid, &mut status, flags) })?;
    if got == 0 {
        return Ok(None);
    }
    Ok(Some((got, RawExit::from_wait_status(status))))
}

pub(crate) use multiproc_internal::poll::poll_readable;

/// `prctl(PR_SET_PDEATHSIG, sig)`: the kernel sends `sig` to this process when the thread
/// that forked it exits.
pub(crate) fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; the other arguments are unused.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// `getppid()`.
pub(crate) fn getppid() -> libc::pid_t {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

/// `memfd_create(name, MFD_CLOEXEC)`.
pub(crate) fn memfd(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid NUL-terminated string.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A close-on-exec eventfd counting from 0 (a wake-up signal between threads).
pub(crate) fn counter_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes an initial value and flags; it returns a new fd or -1.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds 1 to an eventfd's counter (wakes its poller).
pub(crate) fn eventfd_add(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one = 1u64.to_ne_bytes();
    // SAFETY: `one` is valid for reads of its 8 bytes.
    cvt(unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) }).map(drop)
}

/// Takes an eventfd's counter (non-blocking).
pub(crate) fn eventfd_take(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for writes of its 8 bytes.
    cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(u64::from_ne_bytes(buf))
}

/// An eventfd that is readable from the start (counter 1), close-on-exec.
pub(crate) fn ready_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes an initial value and flags; it returns a new fd or -1.
    let fd = cvt(unsafe { libc::eventfd(1, libc::EFD_CLOEXEC) })?;
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Registers `f` to run at normal process exit (`exit()` or a return from `main`).
pub(crate) fn at_exit(f: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `f` is a plain `extern "C" fn()` that lives for the whole program.
    if unsafe { libc::atexit(f) } == 0 {
        Ok(())
    } else {
        Err(io::Error::other("atexit: no room for another handler"))
    }
}

/// Registers a `pthread_atfork` child handler.
pub(crate) fn at_fork_child(child: extern "C" fn()) -> io::Result<()> {
    // SAFETY: the handler is a plain `extern "C" fn()` that lives for the whole program; it
    // tries a mutex and may allocate (glibc's fork resets malloc's locks first).
    let rc = unsafe { libc::pthread_atfork(None, None, Some(child)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// A mutex that the child of a fork can replace with a fresh one when a thread that does not
/// exist in the child held it. The first one lives in the static itself (beside the crate's
/// other statics: a fork's child and parent each write it, and every page written after a
/// fork is copied, so it should share its page with the others rather than sit wherever the
/// heap put it); a replacement is allocated and never freed.
pub(crate) struct RenewableMutex<T: 'static> {
    first: std::sync::Mutex<T>,
    /// A replacement, once there is one (null until then).
    renewed: std::sync::atomic::AtomicPtr<std::sync::Mutex<T>>,
    init: fn() -> T,
}

impl<T> RenewableMutex<T> {
    /// A mutex holding `value`; `init` makes the value of a replacement.
    pub(crate) const fn new(value: T, init: fn() -> T) -> RenewableMutex<T> {
        RenewableMutex {
            first: std::sync::Mutex::new(value),
            renewed: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
            init,
        }
    }

    /// The mutex in use.
    pub(crate) fn get(&'static self) -> &'static std::sync::Mutex<T> {
        use std::sync::atomic::Ordering;
        let p = self.renewed.load(Ordering::Acquire);
        if p.is_null() {
            return &self.first;
        }
        // SAFETY: every pointer stored in `renewed` comes from `Box::into_raw` and is never
        // freed (a replaced mutex is leaked, since a reference to it may still exist), so it
        // is valid for 'static; `Mutex<T>` is `Sync` for `T: Send`, and these mutexes are only
        // used through `&`.
        unsafe { &*p }
    }

    /// In the child of a fork: if the mutex is locked, replaces it with a fresh one (the old
    /// one is leaked). Only for a process with one thread, which holds no guard of it.
    pub(crate) fn renew_if_locked(&'static self) {
        use std::sync::atomic::Ordering;
        if let Err(std::sync::TryLockError::WouldBlock) = self.get().try_lock() {
            let fresh = Box::into_raw(Box::new(std::sync::Mutex::new((self.init)())));
            self.renewed.store(fresh, Ordering::Release);
        }
    }
}

/// How many CPUs this process may run on (`sched_getaffinity`).
pub(crate) fn affinity_cpu_count() -> io::Result<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid out-pointer of the size passed.
    cvt(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    // SAFETY: CPU_COUNT only reads the set.
    Ok(unsafe { libc::CPU_COUNT(&set) } as usize)
}

// ---- The spawn start method: code addresses, the entry hook, inherited fds. ----

#[inline(never)]
fn anchor() {}

/// `addr` as an offset from an anchor in this binary: the same offset names the same code in
/// another process running the same binary, whatever its load address.
pub(crate) fn code_offset(addr: usize) -> u64 {
    addr.wrapping_sub(anchor as *const () as usize) as u64
}

/// The address at `offset` from the anchor (see [`code_offset`]).
pub(crate) fn code_at(offset: u64) -> usize {
    (anchor as *const () as usize).wrapping_add(offset as usize)
}

/// The base address of the loaded object (the executable or a shared library) that holds
/// `addr`, from `dladdr`.
fn object_base(addr: usize) -> Option<usize> {
    // SAFETY: an all-zero Dl_info is a valid out-parameter.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables; `info` is a valid out-pointer.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}

/// The base address of the main executable (the object holding its program headers).
fn executable_base() -> Option<usize> {
    // SAFETY: getauxval only reads the auxiliary vector.
    let phdr = unsafe { libc::getauxval(libc::AT_PHDR) } as usize;
    (phdr != 0).then(|| object_base(phdr)).flatten()
}

/// Checks that the anchor and every address in `code` lie in the main executable: only then
/// does an offset from the anchor name the same code in another process running the same
/// executable (a shared library is loaded at its own, independent, address).
pub(crate) fn code_in_executable(code: &[usize]) -> bool {
    let Some(exe) = executable_base() else {
        return false;
    };
    std::iter::once(anchor as *const () as usize)
        .chain(code.iter().copied())
        .all(|addr| object_base(addr) == Some(exe))
}

/// What identifies this copy of the crate in this executable: its version and its anchor's
/// place in the executable. A job or a server request carries it, and only the copy with
/// the same fingerprint takes it (two versions of the crate in one program each have an
/// entry hook).
pub(crate) fn fingerprint() -> String {
    let offset =
        executable_base().map_or(0, |base| (anchor as *const () as usize).wrapping_sub(base));
    format!("{}-{offset:x}", env!("CARGO_PKG_VERSION"))
}

/// What a job's function did.
pub(crate) enum JobOut {
    /// It returned `()`.
    Done,
    /// It returned a value, encoded.
    Value(Vec<u8>),
    /// The argument could not be decoded.
    BadArgument(String),
    /// The value could not be encoded.
    Unencodable(String),
}

/// A trampoline: decodes the argument, calls the function at the address, encodes what it
/// returns. One instance per argument and result type; its own address travels with the job.
pub(crate) type Trampoline = fn(usize, &[u8], Vec<OwnedFd>) -> JobOut;

/// The trampoline of a `fn(A)`.
pub(crate) fn unit_trampoline<A: serde::de::DeserializeOwned>(
    func: usize,
    arg: &[u8],
    fds: Vec<OwnedFd>,
) -> JobOut {
    let a = match crate::exec::decode_arg::<A>(arg, fds) {
        Ok(a) => a,
        Err(msg) => return JobOut::BadArgument(msg),
    };
    // SAFETY: `func` is the address of a `fn(A)` of this binary: the parent took the offset
    // of one, of the same binary (it exec'd `/proc/self/exe`), and sent it with the offset of
    // this very instance of the trampoline, made for that `A`. Function pointers are
    // address-sized.
    let f: fn(A) = unsafe { std::mem::transmute_copy::<usize, fn(A)>(&func) };
    f(a);
    JobOut::Done
}

/// The trampoline of a `fn(A) -> R`.
pub(crate) fn value_trampoline<A: serde::de::DeserializeOwned, R: serde::Serialize>(
    func: usize,
    arg: &[u8],
    fds: Vec<OwnedFd>,
) -> JobOut {
    let a = match crate::exec::decode_arg::<A>(arg, fds) {
        Ok(a) => a,
        Err(msg) => return JobOut::BadArgument(msg),
    };
    // SAFETY: as in `unit_trampoline`, for a `fn(A) -> R`.
    let f: fn(A) -> R = unsafe { std::mem::transmute_copy::<usize, fn(A) -> R>(&func) };
    match postcard::to_allocvec(&f(a)) {
        Ok(bytes) => JobOut::Value(bytes),
        Err(e) => JobOut::Unencodable(e.to_string()),
    }
}

/// A pool task's trampoline: decodes a chunk of arguments (a postcard sequence), calls the
/// function at the address on each, and appends the results (a postcard sequence) to `out`;
/// an error is a decoding or encoding failure's message. One instance per argument and
/// result types; its own address travels with the task, as for a job.
pub(crate) type PoolTrampoline = fn(usize, &[u8], &mut Vec<u8>) -> Result<(), String>;

/// Decodes a chunk of arguments, applies `f` to each, appends the encoded results to `out`.
fn run_chunk<T: serde::de::DeserializeOwned, R: serde::Serialize>(
    input: &[u8],
    out: &mut Vec<u8>,
    f: impl FnMut(T) -> R,
) -> Result<(), String> {
    let args: Vec<T> = postcard::from_bytes(input).map_err(|e| e.to_string())?;
    let results: Vec<R> = args.into_iter().map(f).collect();
    *out = postcard::to_extend(&results, std::mem::take(out)).map_err(|e| e.to_string())?;
    Ok(())
}

/// The pool trampoline of a `fn(A) -> R`.
pub(crate) fn pool_trampoline<A: serde::de::DeserializeOwned, R: serde::Serialize>(
    func: usize,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // SAFETY: `func` is the address of a `fn(A) -> R` of this binary: the pool took the
    // offset of one, in a process running the same executable (a fork of it, or an `exec`
    // of `/proc/self/exe`), and sent it with the offset of this very instance of the
    // trampoline, made for that `A` and `R`. Function pointers are address-sized.
    let f: fn(A) -> R = unsafe { std::mem::transmute_copy::<usize, fn(A) -> R>(&func) };
    run_chunk(input, out, f)
}

/// The pool trampoline of a `fn(A, B) -> R` (`starmap`): the arguments are pairs.
pub(crate) fn pool_trampoline2<
    A: serde::de::DeserializeOwned,
    B: serde::de::DeserializeOwned,
    R: serde::Serialize,
>(
    func: usize,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // SAFETY: as in `pool_trampoline`, for a `fn(A, B) -> R`.
    let f: fn(A, B) -> R = unsafe { std::mem::transmute_copy::<usize, fn(A, B) -> R>(&func) };
    run_chunk(input, out, |(a, b)| f(a, b))
}

/// The pool trampoline at `offset` from the anchor.
///
/// # Safety
///
/// `offset` must have been made by [`code_offset`] from a [`PoolTrampoline`] in a process
/// running this same binary.
pub(crate) unsafe fn pool_trampoline_at(offset: u64) -> PoolTrampoline {
    let addr = code_at(offset);
    // SAFETY: forwarded to the caller; a `PoolTrampoline` is address-sized.
    unsafe { std::mem::transmute_copy::<usize, PoolTrampoline>(&addr) }
}

/// Runs a pool task in a worker: the trampoline and the function at these offsets, on the
/// encoded chunk of arguments; the results are appended to `out`.
///
/// Only the pool's worker loop calls this, with offsets that came from its own parent over
/// the worker's private task channel: the parent made them with [`code_offset`] from a
/// [`PoolTrampoline`] instance and the `fn` it was made for, in a process running this same
/// executable (checked to lie in it under `spawn` and `forkserver`).
pub(crate) fn call_pool_task(
    trampoline: u64,
    func: u64,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // SAFETY: the offsets name a `PoolTrampoline` and its function in this executable, as
    // said above (the task channel is private to the pool and its worker).
    let t = unsafe { pool_trampoline_at(trampoline) };
    t(code_at(func), input, out)
}

/// Runs a pool's initializer in a worker: the [`Trampoline`] and the `fn(A)` at these
/// offsets, on the encoded argument and its handles' fds. As with [`call_pool_task`], the
/// offsets come from the worker's own parent, made from a `unit_trampoline::<A>` and its
/// `fn(A)` in a process running this same executable.
pub(crate) fn call_initializer(
    trampoline: u64,
    func: u64,
    arg: &[u8],
    fds: Vec<OwnedFd>,
) -> JobOut {
    // SAFETY: as said above.
    let t = unsafe { trampoline_at(trampoline) };
    t(code_at(func), arg, fds)
}

/// The trampoline at `offset` from the anchor.
///
/// # Safety
///
/// `offset` must have been made by [`code_offset`] from a [`Trampoline`] in a process running
/// this same binary.
pub(crate) unsafe fn trampoline_at(offset: u64) -> Trampoline {
    let addr = code_at(offset);
    // SAFETY: forwarded to the caller; a `Trampoline` is address-sized.
    unsafe { std::mem::transmute_copy::<usize, Trampoline>(&addr) }
}

/// The entry hook of the spawn start method: an ELF constructor, run before `main` in every
/// program that links this crate. It returns at once unless this process was started as a
/// spawned child, which it then runs and ends.
#[used]
#[link_section = ".init_array"]
static SPAWN_ENTRY: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = spawn_entry;

extern "C" fn spawn_entry(
    _argc: libc::c_int,
    _argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    // Never unwind into the C runtime.
    match std::panic::catch_unwind(crate::forkserver::serve_if_asked) {
        Ok(()) => {}
        Err(_) => exit_now(1),
    }
    match std::panic::catch_unwind(crate::exec::prepare) {
        Ok(None) => {}
        Ok(Some(ready)) => run_job(ready),
        Err(_) => exit_now(1),
    }
}

/// Whether this program runs with elevated privileges (set-user-ID, set-group-ID, or file
/// capabilities): `getauxval(AT_SECURE)`.
pub(crate) fn is_secure_exec() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Takes ownership of an fd inherited through `exec` at a number the job named, and makes it
/// close-on-exec again. Refuses stdin, stdout, stderr and numbers that are not open.
pub(crate) fn take_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a spawn job named fd {fd}"),
        ));
    }
    // SAFETY: F_SETFD only changes the descriptor's flags; a number that is not open gives
    // EBADF.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    // SAFETY: the fd is open (F_SETFD succeeded); it was inherited for this process's job, the
    // job names each fd once (checked by the caller), and nothing else in this process, which
    // has not reached `main`, knows its number.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes `cmd` keep `fds` open across its `exec` (clearing close-on-exec in the child only,
/// so other threads' concurrent spawns never inherit them).
pub(crate) fn keep_fds_across_exec(cmd: &mut std::process::Command, fds: Vec<RawFd>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and calls only fcntl, which is
    // async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                cvt(libc::fcntl(fd, libc::F_SETFD, 0))?;
            }
            Ok(())
        });
    }
}

// ---- The forkserver: its socket, relayed exit statuses. ----

/// A connected pair of close-on-exec `SOCK_SEQPACKET` Unix sockets (message boundaries kept).
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: two fresh fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec pipe: (read end, write end). The read end is non-blocking.
pub(crate) fn status_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: two fresh fds that nothing else owns.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETFL on our own fresh fd.
    cvt(unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
    Ok((r, w))
}

/// The wire form of a relayed exit status: 8 bytes.
pub(crate) fn encode_relayed_status(raw: RawExit) -> [u8; 8] {
    let (kind, value) = match raw {
        RawExit::Exited(code) => (0u32, code),
        RawExit::Signaled(sig, false) => (1, sig),
        RawExit::Signaled(sig, true) => (2, sig),
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&kind.to_le_bytes());
    out[4..].copy_from_slice(&value.to_le_bytes());
    out
}

/// Closes `fd` if it is not negative (async-signal-safe; errors ignored).
pub(crate) fn close_raw(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: callers pass an fd they own (taken out of the slot that held it) and use
        // it no more.
        unsafe { libc::close(fd) };
    }
}

/// A forkserver worker's own report of its end, exit `code`, on the status pipe `fd` (if not
/// negative), which is then closed. The kernel keeps the low 8 bits of an exit code; so does
/// the report.
pub(crate) fn report_exit(fd: RawFd, code: i32) {
    if fd < 0 {
        return;
    }
    // SAFETY: `fd` is the worker's own status pipe, open until `close_raw` below.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = write_all_fd(
        borrowed,
        &encode_relayed_status(RawExit::Exited(code & 0xff)),
    );
    close_raw(fd);
}

/// Reads a relayed exit status from a forkserver's status pipe (non-blocking):
/// `Ok(None)` if nothing came yet, `Ok(Some(None))` at end of file without a valid status
/// (the server died), `Ok(Some(Some(status)))` once it came.
pub(crate) fn read_relayed_status(fd: BorrowedFd<'_>) -> io::Result<Option<Option<RawExit>>> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    // The server writes the 8 bytes in one write, far below PIPE_BUF: all or nothing.
    if n != 8 {
        return Ok(Some(None));
    }
    let kind = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let value = i32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Ok(Some(match (kind, value) {
        (0, code) if (0..=255).contains(&code) => Some(RawExit::Exited(code)),
        (1, sig) if (1..=64).contains(&sig) => Some(RawExit::Signaled(sig, false)),
        (2, sig) if (1..=64).contains(&sig) => Some(RawExit::Signaled(sig, true)),
        _ => None,
    }))
}

/// Polls `fds` for readability (no timeout); returns which are readable (or hung up).
pub(crate) fn poll_many(fds: &[BorrowedFd<'_>]) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds for the duration of the call.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if rc >= 0 {
            return Ok(pfds.iter().map(|p| p.revents != 0).collect());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Runs a checked job (from an exec'd spawn child's entry, or in a forkserver's worker) and
/// ends the process.
pub(crate) fn run_job(ready: crate::exec::Ready) -> ! {
    // As std's runtime does before `main` (which a job runs before): writing to a closed pipe
    // is an error, not death.
    let _ = multiproc_signal::ignore(multiproc_signal::Signal::Pipe);
    // The job came from this program's own parent and was checked (magic, version, length,
    // fds); a program with elevated privileges was refused, so whoever made it could run
    // this program's code anyway.
    // SAFETY: the parent made the offset from a `Trampoline` of this same binary.
    let trampoline = unsafe { trampoline_at(ready.trampoline_offset()) };
    crate::exec::run(ready, trampoline)
}

/// Writes all of `bytes` to `fd` (no duplicate fd needed: it works when out of fds).
pub(crate) fn write_all_fd(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is valid for reads of its length.
        let n =
            cvt_r(|| unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) })?;
        bytes = &bytes[(n as usize).min(bytes.len())..];
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}
