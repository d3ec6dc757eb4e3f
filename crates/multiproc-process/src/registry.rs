//! This process's view of itself and of its children.
//!
//! One lock guards it, and every fork of this crate happens while holding that lock (and the
//! locks of stdout and stderr): the child inherits a registry nobody else is changing, turns
//! it into its own (no children, itself one level deeper, the parent's pidfd kept) and only
//! then releases the lock.

use crate::status::ExitStatus;
use crate::sys;
use crate::ProcessError;
use multiproc_internal::identity;
use multiproc_signal::{Pid, Signal};
use std::convert::Infallible;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// How long the exit hook lets daemonic children end after SIGTERM before SIGKILL.
const DAEMON_GRACE: Duration = Duration::from_secs(1);

/// How this process learns that a child ended, and how it ended.
#[derive(Debug)]
enum Watch {
    /// Our own child: its pidfd (`waitid(P_PIDFD)` reaps it).
    Pidfd(OwnedFd),
    /// Our own child, gone (reaped by the kernel because SIGCHLD is ignored) before its pidfd
    /// could be opened: an eventfd that is readable already.
    Gone(OwnedFd),
    /// A forkserver's child: its pidfd (for signals; readable when it exits) and a pipe on
    /// which its status comes: written by the child itself just before it ends normally (so
    /// that its end wakes this process directly, not through the server), or else by the
    /// server once it has reaped it (end of file without a status: the server died).
    Relayed {
        pidfd: OwnedFd,
        status: OwnedFd,
        /// Set once its pidfd said it has ended: from then on the status pipe is watched.
        ended: std::sync::atomic::AtomicBool,
    },
}

/// One child, shared by its handle and the registry until it is reaped.
#[derive(Debug)]
pub(crate) struct ChildState {
    pub(crate) pid: Pid,
    /// The process whose child it is: a handle copied into another process (by a fork) does
    /// nothing there.
    owner: i32,
    watch: Watch,
    pub(crate) name: Mutex<String>,
    pub(crate) daemon: bool,
    /// Set when its handle was dropped while it ran: the reaper thread watches it.
    deferred: std::sync::atomic::AtomicBool,
    /// Set once it has been reaped: its status, or the error that says why it is unknown.
    exit: Mutex<Option<Result<ExitStatus, Lost>>>,
}

/// Why a child's exit status is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// Reaped elsewhere (SIGCHLD ignored, `waitpid(-1)`).
    Reaped,
    /// Its forkserver died before relaying it.
    ServerDied,
}

impl Lost {
    fn error(self) -> ProcessError {
        match self {
            Lost::Reaped => ProcessError::Reaped,
            Lost::ServerDied => ProcessError::ForkserverDied,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ChildState {
    /// The pidfd to signal it through, if there is one.
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        match &self.watch {
            Watch::Pidfd(fd) | Watch::Relayed { pidfd: fd, .. } => Some(fd.as_fd()),
            Watch::Gone(_) => None,
        }
    }

    /// An fd that is readable once the child has ended (and, for a forkserver's child, once
    /// its status has arrived).
    pub(crate) fn sentinel(&self) -> BorrowedFd<'_> {
        match &self.watch {
            Watch::Pidfd(fd) | Watch::Gone(fd) | Watch::Relayed { pidfd: fd, .. } => fd.as_fd(),
        }
    }

    /// What `wait` polls: readable once `try_reap` can tell (a forkserver's child: once its
    /// status has come, or, if the server died, once it has ended).
    fn wait_fd(&self) -> BorrowedFd<'_> {
        match &self.watch {
            Watch::Relayed {
                pidfd,
                status,
                ended,
            } => {
                if ended.load(std::sync::atomic::Ordering::Acquire) {
                    status.as_fd()
                } else {
                    pidfd.as_fd()
                }
            }
            Watch::Pidfd(fd) | Watch::Gone(fd) => fd.as_fd(),
        }
    }

    /// Its exit status if it has been reaped already.
    pub(crate) fn known_exit(&self) -> Option<Result<ExitStatus, ProcessError>> {
        lock(&self.exit).map(|e| e.map_err(Lost::error))
    }

    /// Reaps it if it has ended (never blocks). `Ok(None)`: still running.
    pub(crate) fn try_reap(&self) -> Result<Option<ExitStatus>, ProcessError> {
        if identity::pid() != self.owner {
            return Err(ProcessError::Reaped);
        }
        let mut exit = lock(&self.exit);
        if let Some(e) = *exit {
            return e.map(Some).map_err(Lost::error);
        }
        let got = match &self.watch {
            Watch::Gone(_) => Err(Lost::Reaped),
            Watch::Pidfd(fd) => match sys::waitid_pidfd(fd.as_fd(), true) {
                Ok(None) => return Ok(None),
                Ok(Some(raw)) => Ok(ExitStatus::from_raw(raw)),
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Err(Lost::Reaped),
                Err(e) => return Err(e.into()),
            },
            Watch::Relayed {
                pidfd,
                status,
                ended,
            } => {
                // Not before it has ended: its own report comes just before its end.
                if !ended.load(std::sync::atomic::Ordering::Acquire) {
                    if !sys::poll_readable(pidfd.as_fd(), Some(Duration::ZERO))? {
                        return Ok(None);
                    }
                    ended.store(true, std::sync::atomic::Ordering::Release);
                }
                match sys::read_relayed_status(status.as_fd())? {
                    // Ended without a report of its own (a signal, or `_exit`): the server's
                    // is on its way.
                    None => return Ok(None),
                    Some(Some(raw)) => Ok(ExitStatus::from_raw(raw)),
                    // The server died before relaying it: the status is lost.
                    Some(None) => Err(Lost::ServerDied),
                }
            }
        };
        *exit = Some(got);
        got.map(Some).map_err(Lost::error)
    }

    /// Waits up to `timeout` (`None`: no limit) for it to end, and reaps it.
    pub(crate) fn wait(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<ExitStatus>, ProcessError> {
        if identity::pid() != self.owner {
            return Err(ProcessError::Reaped);
        }
        if let Some(known) = self.known_exit() {
            return known.map(Some);
        }
        let deadline = timeout.and_then(multiproc_internal::clock::Deadline::after);
        loop {
            // Readable once it has ended: then `try_reap` finds it (or learns that someone
            // else reaped it, or that its forkserver died).
            let left = match (timeout, deadline) {
                (Some(_), Some(d)) => Some(d.remaining()),
                // No limit, or one too large to represent.
                _ => None,
            };
            if !sys::poll_readable(self.wait_fd(), left)? {
                return Ok(None);
            }
            if let Some(status) = self.try_reap()? {
                forget(self);
                return Ok(Some(status));
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                return Ok(None);
            }
        }
    }

    /// Whether it is still running (reaping it if it ended).
    pub(crate) fn is_alive(&self) -> bool {
        match self.try_reap() {
            Ok(None) => true,
            Ok(Some(_)) => {
                forget(self);
                false
            }
            Err(_) => false,
        }
    }

    /// Sends `sig` through the pidfd; nothing if it has already been reaped (the pid may
    /// belong to another process by now).
    pub(crate) fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        if identity::pid() != self.owner {
            return Err(ProcessError::Reaped);
        }
        let exit = lock(&self.exit);
        if exit.is_some() {
            return Ok(());
        }
        let Some(fd) = self.pidfd() else {
            return Ok(());
        };
        // Holding `exit` keeps anyone from reaping it meanwhile: the pidfd still names a
        // running process or a zombie.
        let raw = sig
            .checked_raw()
            .map_err(|e| ProcessError::Io(io::Error::other(e)))?;
        match sys::pidfd_send_signal(fd, raw) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => Ok(other?),
        }
    }
}

/// What a child knows of its parent.
#[derive(Debug)]
pub(crate) struct ParentInfo {
    pub(crate) pid: Pid,
    pub(crate) name: String,
    /// The parent's pidfd, inherited: readable once the parent has exited.
    pub(crate) pidfd: Option<Arc<OwnedFd>>,
}

#[derive(Debug)]
struct Registry {
    /// The pid this registry describes; 0 before first use. A registry whose owner is not
    /// the current process was inherited through a fork this crate did not make.
    owner: i32,
    children: Vec<Arc<ChildState>>,
    /// Python's `_identity`: empty in the main process, `[1]` in `Process-1`, `[1, 2]` in
    /// `Process-1:2`.
    identity: Vec<u32>,
    /// How many processes this process has created (names the next one).
    counter: u32,
    /// This process's name; `None` for the main process (`"MainProcess"`).
    name: Option<String>,
    daemon: bool,
    parent: Option<Arc<ParentInfo>>,
    /// A pidfd naming this process, handed to each child as its parent's.
    self_pidfd: Option<Arc<OwnedFd>>,
    /// This process as its forked children see it: made at the first fork and kept (until
    /// this process is renamed), so that a fork allocates nothing for it, and the parent
    /// frees nothing after it (each page written after a fork is copied).
    as_parent: Option<Arc<ParentInfo>>,
    /// The eventfd that wakes this process's reaper thread, once it runs.
    reaper: Option<Arc<OwnedFd>>,
}

const EMPTY: Registry = Registry {
    owner: 0,
    children: Vec::new(),
    identity: Vec::new(),
    counter: 0,
    name: None,
    daemon: false,
    parent: None,
    self_pidfd: None,
    as_parent: None,
    reaper: None,
};

/// The registry's mutex: renewable, so that the child of a fork made outside this crate, while
/// a thread that does not exist in the child held it, starts over with a fresh one (see
/// `atfork_child`) instead of waiting for good.
static REGISTRY: sys::RenewableMutex<Registry> = sys::RenewableMutex::new(EMPTY, || EMPTY);

fn registry_mutex() -> &'static Mutex<Registry> {
    REGISTRY.get()
}

static EXIT_HOOK: Once = Once::new();

fn registry() -> MutexGuard<'static, Registry> {
    let me = identity::pid();
    ensure_atfork();
    let mut reg = lock(registry_mutex());
    if reg.owner != me {
        if reg.owner != 0 {
            // Inherited through a fork made elsewhere: the children and the pidfd are the
            // parent's. Our pid's parent is unknown to us.
            reg.children.clear();
            reg.self_pidfd = None;
            reg.as_parent = None;
            reg.parent = None;
            reg.reaper = None;
        }
        reg.owner = me;
    }
    reg
}

/// Removes a reaped child from the registry.
fn forget(child: &ChildState) {
    registry()
        .children
        .retain(|c| !std::ptr::eq(Arc::as_ptr(c), child));
}

/// Called when a child's handle is dropped while the child runs: the reaper thread (started
/// at the first such drop) reaps it when it ends, so it does not stay a zombie.
pub(crate) fn defer(child: &ChildState) {
    child
        .deferred
        .store(true, std::sync::atomic::Ordering::Release);
    let wake = {
        let mut reg = registry();
        match &reg.reaper {
            Some(fd) => Arc::clone(fd),
            None => {
                let Ok(fd) = sys::counter_eventfd() else {
                    // No reaper: the child is reaped at the next start or at exit.
                    return;
                };
                let fd = Arc::new(fd);
                let theirs = Arc::clone(&fd);
                let started = std::thread::Builder::new()
                    .name("multiproc-reaper".into())
                    .spawn(move || reap_deferred(&theirs));
                if started.is_err() {
                    return;
                }
                reg.reaper = Some(Arc::clone(&fd));
                fd
            }
        }
    };
    let _ = sys::eventfd_add(wake.as_fd());
}

/// The reaper thread: waits for the children whose handles were dropped, and reaps them.
fn reap_deferred(wake: &OwnedFd) {
    loop {
        let orphans: Vec<Arc<ChildState>> = registry()
            .children
            .iter()
            .filter(|c| c.deferred.load(std::sync::atomic::Ordering::Acquire))
            .cloned()
            .collect();
        let mut watched: Vec<BorrowedFd<'_>> = vec![wake.as_fd()];
        watched.extend(orphans.iter().map(|c| c.sentinel()));
        let Ok(ready) = sys::poll_many(&watched) else {
            return;
        };
        drop(watched);
        if ready.first().copied().unwrap_or(false) {
            let _ = sys::eventfd_take(wake.as_fd());
        }
        for (c, _) in orphans.iter().zip(&ready[1..]).filter(|(_, &r)| r) {
            if !matches!(c.try_reap(), Ok(None)) {
                forget(c);
            }
        }
    }
}

/// Reaps every child that has ended (Python's `_cleanup`).
pub(crate) fn reap_finished() {
    let mut reg = registry();
    reg.children.retain(|c| matches!(c.try_reap(), Ok(None)));
}

/// A snapshot of the children still running, after reaping the finished ones.
pub(crate) fn active_children() -> Vec<Arc<ChildState>> {
    let mut reg = registry();
    reg.children.retain(|c| matches!(c.try_reap(), Ok(None)));
    reg.children.clone()
}

/// The identity of the next process this process creates (Python's `_identity`): this
/// process's own, plus a counter.
pub(crate) fn next_identity() -> Vec<u32> {
    let mut reg = registry();
    reg.counter += 1;
    let mut id = reg.identity.clone();
    id.push(reg.counter);
    id
}

/// The default name of a process with this identity: `Process-2`, or `Process-1:2` inside
/// `Process-1`.
pub(crate) fn default_name(identity: &[u32]) -> String {
    let parts: Vec<String> = identity.iter().map(u32::to_string).collect();
    format!("Process-{}", parts.join(":"))
}

pub(crate) fn current_name() -> String {
    registry()
        .name
        .clone()
        .unwrap_or_else(|| "MainProcess".to_owned())
}

pub(crate) fn set_current_name(name: String) {
    let mut reg = registry();
    reg.name = Some(name);
    reg.as_parent = None;
}

pub(crate) fn current_is_daemon() -> bool {
    registry().daemon
}

pub(crate) fn parent() -> Option<Arc<ParentInfo>> {
    registry().parent.clone()
}

/// What the child of [`fork`] needs to set itself up, returned before anything runs.
pub(crate) struct ChildSetup {
    pub(crate) parent_pid: Pid,
    /// Whether the parent forked from its main thread (so `PR_SET_PDEATHSIG` follows the
    /// whole parent process).
    pub(crate) parent_main_thread: bool,
}

/// Who the child of a fork becomes. Owned, and moved into the child's registry: every
/// allocation is made before the fork, because each page written after it is copied (a fault
/// of several microseconds), in the child and in the parent alike.
pub(crate) struct Becomes {
    pub(crate) name: String,
    pub(crate) lineage: Vec<u32>,
    pub(crate) daemon: bool,
}

/// What is held across a fork: stdout, stderr, the forkserver client, and the registry,
/// taken in that order (and released in the reverse), so that no thread ever waits for a
/// stream while holding the registry. The child inherits them locked by its own (only)
/// thread and releases them in [`ForkLocks::become_child`]; so it finds a registry nobody was
/// changing, streams it can use, and nothing the parent buffered is written twice.
pub(crate) struct ForkLocks {
    reg: MutexGuard<'static, Registry>,
    client: crate::forkserver::ClientGuard,
    err: io::StderrLock<'static>,
    out: io::StdoutLock<'static>,
    holding: Holding,
    setup: ChildSetup,
    /// No panic is being reported (see [`install_panic_gate`]).
    _gate: MutexGuard<'static, ()>,
}

thread_local! {
    /// Set while this thread holds the registry for a fork of its own, so the `pthread_atfork`
    /// handler (for forks made outside this crate) does not take it again.
    static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as holding the registry for a fork, until dropped.
struct Holding;

impl Holding {
    fn new() -> Holding {
        HOLDING.with(|h| h.set(true));
        Holding
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        let _ = HOLDING.try_with(|h| h.set(false));
    }
}

/// Takes the locks to hold across a fork (and makes sure this process has a pidfd to hand
/// its children).
pub(crate) fn lock_for_fork() -> Result<ForkLocks, ProcessError> {
    // Before any lock: a `Once` another thread is running at the fork would never finish in
    // the child.
    ensure_exit_hook();
    install_panic_gate();
    let gate = PANIC_GATE
        .get()
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut out = io::stdout().lock();
    let _ = out.flush();
    let err = io::stderr().lock();
    let client = crate::forkserver::lock_client();
    let mut reg = registry();
    if reg.self_pidfd.is_none() {
        reg.self_pidfd = Some(Arc::new(sys::pidfd_open(identity::pid())?));
    }
    let pid = Pid::from_raw(identity::pid());
    if reg.as_parent.is_none() {
        reg.as_parent = Some(Arc::new(ParentInfo {
            pid,
            name: reg.name.clone().unwrap_or_else(|| "MainProcess".to_owned()),
            pidfd: reg.self_pidfd.clone(),
        }));
    }
    let setup = ChildSetup {
        parent_pid: pid,
        parent_main_thread: identity::tid() == identity::pid(),
    };
    Ok(ForkLocks {
        reg,
        client,
        err,
        out,
        holding: Holding::new(),
        setup,
        _gate: gate,
    })
}

impl ForkLocks {
    /// In the child: makes the registry the child's (no children; this process's pidfd kept
    /// as the parent's; with `becomes`, a new name and identity), forgets the parent's
    /// forkserver, and releases the locks. Allocates nothing and frees nothing.
    pub(crate) fn become_child(self, becomes: Option<Becomes>) -> ChildSetup {
        let ForkLocks {
            mut reg,
            mut client,
            err,
            out,
            holding,
            setup,
            _gate,
        } = self;
        reg.owner = identity::pid();
        if !reg.children.is_empty() {
            // The parent's children: their states (and pidfds) stay allocated, unfreed.
            std::mem::forget(std::mem::take(&mut reg.children));
        }
        if let Some(b) = becomes {
            std::mem::forget(std::mem::replace(&mut reg.identity, b.lineage));
            reg.counter = 0;
            std::mem::forget(reg.name.replace(b.name));
            reg.daemon = b.daemon;
        }
        // The pidfd naming the parent now lives in `parent`; the child opens its own. The
        // parent's reaper thread does not exist here.
        std::mem::forget(reg.self_pidfd.take());
        std::mem::forget(reg.reaper.take());
        // The parent's view of itself becomes the child's parent (moved: no count written).
        let parent = reg.as_parent.take();
        std::mem::forget(std::mem::replace(&mut reg.parent, parent));
        drop(reg);
        crate::forkserver::forget_in_child(&mut client);
        drop(client);
        drop(err);
        drop(out);
        drop(holding);
        setup
    }
}

static ATFORK: Once = Once::new();

/// Held while a panic is reported, and across the crate's forks. Renewable: a fork made
/// outside the crate while a thread held it leaves the child a fresh one.
static PANIC_GATE: sys::RenewableMutex<()> = sys::RenewableMutex::new((), || ());
static PANIC_GATE_HOOK: Once = Once::new();
/// How long a panic waits for a fork in progress before it is reported anyway.
const PANIC_GATE_PATIENCE: Duration = Duration::from_secs(1);

/// Wraps the panic hook so that the crate's forks never happen while another thread reports
/// a panic: the standard hook holds a private lock (the backtrace lock) while it prints, and
/// a child forked then would wait for it forever at its own first panic (a pool worker whose
/// task panics, say). A fork waits for the report in progress; a panic during a fork waits
/// for it (at most a second). Reports are serialized, as the standard hook's lock does
/// anyway. A hook set later replaces this one, and the protection with it.
fn install_panic_gate() {
    if std::thread::panicking() {
        return; // `set_hook` refuses; the next start installs it
    }
    PANIC_GATE_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let start = Instant::now();
            let _gate = loop {
                match PANIC_GATE.get().try_lock() {
                    Ok(g) => break Some(g),
                    Err(TryLockError::Poisoned(p)) => break Some(p.into_inner()),
                    Err(TryLockError::WouldBlock) if start.elapsed() < PANIC_GATE_PATIENCE => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(TryLockError::WouldBlock) => break None,
                }
            };
            previous(info);
        }));
    });
}

/// In the child of any fork: if the registry's (or the forkserver client's, or the panic
/// gate's) mutex is locked,
/// a thread that does not exist here held it at the fork (a fork made outside this crate; the crate's own forks hold it
/// themselves and release it in `become_child`). The child then starts over with a fresh,
/// empty registry rather than wait for good. Nothing is taken before the fork, so no prepare
/// handler ever waits for a lock while libc holds its own fork lock.
extern "C" fn atfork_child() {
    // Only a forkserver's worker itself reports its end, never a child of it.
    crate::child::forget_exit_report();
    if HOLDING.try_with(|h| h.get()).unwrap_or(true) {
        return;
    }
    REGISTRY.renew_if_locked();
    PANIC_GATE.renew_if_locked();
    crate::forkserver::renew_client_if_locked();
}

/// Installs the `pthread_atfork` child handler (once).
fn ensure_atfork() {
    ATFORK.call_once(|| {
        // Without it, a fork made elsewhere while another thread holds the registry could
        // leave the child's registry locked: say so rather than fail.
        if let Err(e) = sys::at_fork_child(atfork_child) {
            let _ = writeln!(
                io::stderr(),
                "multiproc: {e}: forks made outside multiproc are unguarded"
            );
        }
    });
}

/// Registers the exit hook that finishes this process's children (once).
pub(crate) fn ensure_exit_hook() {
    EXIT_HOOK.call_once(|| {
        // Without the hook, children are neither joined nor terminated at exit: say so
        // rather than fail the start.
        if let Err(e) = sys::at_exit(exit_hook) {
            let _ = writeln!(
                io::stderr(),
                "multiproc: {e}: children are not joined at exit"
            );
        }
    });
}

/// Forks a child that becomes `becomes` and runs `body`, which must end the process
/// ([`crate::child::bootstrap`]); in the parent, registers the child and returns it.
pub(crate) fn fork(
    becomes: Becomes,
    body: impl FnOnce(ChildSetup) -> Infallible,
) -> Result<Arc<ChildState>, ProcessError> {
    ensure_exit_hook();
    reap_finished();
    let locks = lock_for_fork()?;
    // The body (the user's closure and what it captured) is dropped in the parent only after
    // the locks are released (when the closure below is dropped unrun): its destructors may
    // use this crate.
    let mut body = Some(body);
    // Taken by the child; the parent registers the child under the same name (no copy made
    // before the fork and freed after it: each page the parent writes after a fork is copied).
    let mut becomes = Some(becomes);
    let slot = &mut becomes;
    let pid = sys::fork_diverging(|| {
        let setup = locks.become_child(slot.take());
        match body.take() {
            Some(body) => body(setup),
            None => sys::exit_now(1),
        }
    })?;
    drop(body);
    let Some(Becomes { name, daemon, .. }) = becomes else {
        unreachable!("only the child takes it")
    };
    register(pid, name, daemon)
}

/// Registers a child this process just started (by `fork`, or `fork` + `exec`), opening its
/// pidfd before anything can have reaped it (unless SIGCHLD is ignored).
pub(crate) fn register(
    pid: libc::pid_t,
    name: String,
    daemon: bool,
) -> Result<Arc<ChildState>, ProcessError> {
    let watch = match sys::pidfd_open(pid) {
        // If the child was reaped by the kernel (SIGCHLD ignored) before the pidfd was opened,
        // its pid may already name another process: the pidfd is ours only if `waitid`
        // still finds our child behind it.
        Ok(fd) if sys::is_own_child(fd.as_fd()) => Watch::Pidfd(fd),
        Ok(_) => Watch::Gone(sys::ready_eventfd()?),
        // Already exited and reaped: SIGCHLD is ignored here.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Watch::Gone(sys::ready_eventfd()?),
        Err(e) => return Err(e.into()),
    };
    Ok(add_child(Pid::from_raw(pid), watch, name, daemon))
}

/// Registers a child started by this process's forkserver: `pidfd` names it (the server
/// opened it), `status` is the pipe the server relays its exit status on.
pub(crate) fn register_relayed(
    pid: Pid,
    pidfd: OwnedFd,
    status: OwnedFd,
    name: String,
    daemon: bool,
) -> Arc<ChildState> {
    let watch = Watch::Relayed {
        pidfd,
        status,
        ended: std::sync::atomic::AtomicBool::new(false),
    };
    add_child(pid, watch, name, daemon)
}

fn add_child(pid: Pid, watch: Watch, name: String, daemon: bool) -> Arc<ChildState> {
    let state = Arc::new(ChildState {
        pid,
        owner: identity::pid(),
        watch,
        name: Mutex::new(name),
        daemon,
        deferred: std::sync::atomic::AtomicBool::new(false),
        exit: Mutex::new(None),
    });
    registry().children.push(Arc::clone(&state));
    state
}

/// This process's own pidfd (opened at first use), to hand to a forkserver's children.
pub(crate) fn self_pidfd() -> Result<Arc<OwnedFd>, ProcessError> {
    let mut reg = registry();
    if let Some(fd) = &reg.self_pidfd {
        return Ok(Arc::clone(fd));
    }
    let fd = Arc::new(sys::pidfd_open(identity::pid())?);
    reg.self_pidfd = Some(Arc::clone(&fd));
    Ok(fd)
}

/// The parent of a process started by `exec`, as its job describes it.
pub(crate) struct SpawnedBy {
    pub(crate) pid: Pid,
    pub(crate) name: String,
    pub(crate) main_thread: bool,
    /// Its pidfd, when it came with the job (a forkserver's client); otherwise it is opened
    /// here, and only if the parent is still this process's parent.
    pub(crate) pidfd: Option<OwnedFd>,
}

/// Makes a process started by `exec` (the `spawn` start method) who it was started as: its
/// name, identity and daemon flag, and its parent (whose pidfd is opened now: if the parent is
/// already gone, there is none, and a daemon notices at once through `getppid`).
pub(crate) fn become_spawned(becomes: Becomes, parent: SpawnedBy) -> ChildSetup {
    let mut reg = registry();
    // A forkserver's worker gets its client's pidfd with the job: its real parent is the
    // server, so `PR_SET_PDEATHSIG` (and the `getppid` check) would follow the wrong process.
    let relayed = parent.pidfd.is_some();
    let parent_pidfd = match parent.pidfd {
        Some(fd) => Some(Arc::new(fd)),
        None => sys::pidfd_open(parent.pid.as_raw())
            .ok()
            .filter(|_| sys::getppid() == parent.pid.as_raw())
            .map(Arc::new),
    };
    reg.identity = becomes.lineage;
    reg.counter = 0;
    reg.name = Some(becomes.name);
    reg.daemon = becomes.daemon;
    reg.as_parent = None;
    reg.parent = Some(Arc::new(ParentInfo {
        pid: parent.pid,
        name: parent.name,
        pidfd: parent_pidfd,
    }));
    ChildSetup {
        parent_pid: parent.pid,
        parent_main_thread: parent.main_thread && !relayed,
    }
}

/// What a process does with its children when it exits normally (Python's
/// `_exit_function`): daemonic ones get SIGTERM, then SIGKILL after a grace period;
/// the others are waited for.
pub(crate) fn finish_children() {
    let children = {
        let mut reg = registry();
        reg.children.retain(|c| matches!(c.try_reap(), Ok(None)));
        reg.children.clone()
    };
    for c in children.iter().filter(|c| c.daemon) {
        let _ = c.signal(Signal::Term);
    }
    if children.is_empty() {
        return;
    }
    // One grace period for all of them, then SIGKILL to those still running.
    let deadline = std::time::Instant::now() + DAEMON_GRACE;
    let stubborn: Vec<&Arc<ChildState>> = children
        .iter()
        .filter(|c| c.daemon)
        .filter(|c| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            matches!(c.wait(Some(left)), Ok(None))
        })
        .collect();
    for c in &stubborn {
        let _ = c.signal(Signal::Kill);
    }
    for c in &stubborn {
        let _ = c.wait(None);
    }
    for c in children.iter().filter(|c| !c.daemon) {
        let _ = c.wait(None);
    }
}

extern "C" fn exit_hook() {
    // Never unwind across the C boundary.
    let _ = std::panic::catch_unwind(finish_children);
}
