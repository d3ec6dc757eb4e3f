//! A robust lock word in the kernel's robust-futex format, for locks that live in shared
//! memory.
//!
//! The word holds `TID | FUTEX_WAITERS | FUTEX_OWNER_DIED`. Every thread that takes one of these
//! locks registers its own robust list with the kernel (`set_robust_list`); when the thread
//! dies holding a lock — SIGKILL included — the kernel sets `FUTEX_OWNER_DIED`, clears the TID
//! and wakes one waiter. The next acquirer gets [`Acquired::OwnerDied`] and either marks the
//! state consistent (a plain [`RobustMutex::unlock`]) or leaves it inconsistent
//! ([`RobustMutex::unlock_not_recoverable`]), after which every acquirer gets
//! [`LockFail::NotRecoverable`] at once.
//!
//! Uncontended lock and unlock are one compare-exchange each on the word plus a few plain
//! stores to thread-local memory: no syscall.
//!
//! # Why not glibc's robust `pthread_mutex_t`, and what this costs
//!
//! See `docs/safety.md`. In short: glibc's unlock follows list pointers it reads from the
//! shared mutex (a corrupted peer can make this process write anywhere), and its contended path
//! is about twice as slow as a plain futex lock. The price of our own list: the kernel keeps one
//! robust list per thread, so in a thread that has taken a multiproc lock, glibc robust mutexes
//! (`PTHREAD_MUTEX_ROBUST`) no longer get owner-death marking. multiproc never uses them.
//!
//! # What is trusted
//!
//! The `next` links of the kernel list live beside each word, in shared memory, because the
//! kernel requires it. This process never reads them back: it keeps its own copy of the held
//! locks (the shadow) and rewrites links from that. A peer that scribbles on a link cannot make
//! this process read or write anywhere. What it can do: when this thread dies (or execs), the
//! kernel follows the scribbled link and may set `FUTEX_OWNER_DIED` in a word that holds this
//! thread's id, in any mapping — shared data corruption of the kind the peer could cause
//! directly, and lost owner-death marking of the locks after it.

use crate::clock::Deadline;
use crate::futex;
use crate::identity;
use std::cell::Cell;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};

const WAITERS: u32 = libc::FUTEX_WAITERS;
const OWNER_DIED: u32 = libc::FUTEX_OWNER_DIED;
const TID_MASK: u32 = libc::FUTEX_TID_MASK;
/// A TID that no thread can have (pid_max is at most 2^22): marks the lock unusable.
const NOT_RECOVERABLE: u32 = TID_MASK;

/// How many robust locks one thread may hold at once.
pub const MAX_HELD: usize = 64;

/// A robust, process-shared lock word plus the kernel's robust-list link. 16 bytes.
///
/// It exists only inside shared mappings (see [`crate::block::SharedBlock::robust_mutex`]):
/// the kernel and this module keep its address while it is held, so the memory must not move
/// or be unmapped while any thread holds it, which [`crate::block::SharedBlock`] guarantees.
#[repr(C, align(8))]
#[derive(Debug)]
pub struct RobustMutex {
    word: AtomicU32,
    _reserved: u32,
    /// `struct robust_list { struct robust_list *next; }`: the kernel's link.
    next: AtomicUsize,
}

/// Offset from the robust-list entry (`next`) to the futex word, as the kernel wants it.
const FUTEX_OFFSET: isize = -8;
const _: () = assert!(std::mem::offset_of!(RobustMutex, next) as isize + FUTEX_OFFSET == 0);
const _: () = assert!(std::mem::size_of::<RobustMutex>() == 16);

/// How a lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Acquired {
    /// The previous holder released it normally.
    Clean,
    /// The previous holder died holding it; the protected state may be inconsistent.
    OwnerDied,
}

/// Why a lock was not acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockFail {
    /// `try_lock`: another thread holds it.
    WouldBlock,
    /// The deadline passed.
    TimedOut,
    /// A holder died and nobody marked the state consistent: the lock is permanently unusable.
    NotRecoverable,
    /// This thread already holds it.
    WouldDeadlock,
    /// This thread already holds [`MAX_HELD`] robust locks.
    TooManyHeld,
    /// This thread cannot hold robust locks: the kernel refused to register its robust list
    /// (`set_robust_list`: a seccomp filter, an emulator), or the thread is exiting.
    Unavailable,
}

/// The kernel's `struct robust_list_head`.
#[repr(C)]
struct RobustListHead {
    list_next: AtomicUsize,
    futex_offset: isize,
    list_op_pending: AtomicUsize,
}

/// One thread's robust list and the shadow of what it holds.
struct ThreadList {
    head: RobustListHead,
    /// Addresses of held locks, oldest first. Written only by the owning thread; read by
    /// [`held_in_range`] from any thread.
    held: [AtomicUsize; MAX_HELD],
    len: AtomicUsize,
    /// This thread's TID (lists are per thread, and reset in a forked child).
    tid: u32,
    /// The process the list was registered in: a forked child that skipped the fork handler
    /// (a raw `clone`) notices the change and registers afresh.
    pid: i32,
    /// glibc's registration, restored when the thread exits.
    saved_head: usize,
}

impl ThreadList {
    fn head_addr(&self) -> usize {
        &self.head.list_next as *const AtomicUsize as usize
    }
}

thread_local! {
    /// This thread's list: null = not registered yet; `DEAD` = thread exiting.
    static LIST: Cell<*const ThreadList> = const { Cell::new(std::ptr::null()) };
    /// Owns the list and cleans up at thread exit.
    static OWNER: ListOwner = const { ListOwner(Cell::new(std::ptr::null())) };
}

const DEAD: *const ThreadList = std::ptr::dangling();

/// Every live thread list of this process, for [`held_in_range`]. A tiny spin lock guards it
/// (not a `Mutex`): the fork handler must be able to reset it in the child.
struct Registry {
    locked: AtomicBool,
    lists: std::cell::UnsafeCell<Vec<usize>>,
}

// SAFETY: `lists` is only touched while `locked` is held (see `with_registry`).
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    locked: AtomicBool::new(false),
    lists: std::cell::UnsafeCell::new(Vec::new()),
};

fn with_registry<R>(f: impl FnOnce(&mut Vec<usize>) -> R) -> R {
    while REGISTRY
        .locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
    // SAFETY: the spin lock above gives exclusive access to `lists` until it is released below.
    let r = f(unsafe { &mut *REGISTRY.lists.get() });
    REGISTRY.locked.store(false, Ordering::Release);
    r
}

struct ListOwner(Cell<*const ThreadList>);

impl Drop for ListOwner {
    fn drop(&mut self) {
        let list = self.0.get();
        if list.is_null() {
            return;
        }
        let _ = LIST.try_with(|l| l.set(DEAD));
        // SAFETY: `list` came from `Box::into_raw` in `register` and is freed only here.
        let l = unsafe { &*list };
        // Locks still held (guards leaked with mem::forget): mark them as the kernel would,
        // so that nothing depends on the list once it is freed.
        let tid = l.tid;
        for slot in &l.held[..l.len.load(Ordering::Relaxed)] {
            let addr = slot.load(Ordering::Relaxed);
            // SAFETY: a held lock's block is never unmapped while held (held_in_range), so the
            // address still points at a live RobustMutex.
            let m = unsafe { &*(addr as *const RobustMutex) };
            let mut cur = m.word.load(Ordering::Relaxed);
            while cur & TID_MASK == tid {
                let new = (cur & WAITERS) | OWNER_DIED;
                match m
                    .word
                    .compare_exchange(cur, new, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => {
                        if cur & WAITERS != 0 {
                            futex::wake(&m.word, 1);
                        }
                        break;
                    }
                    Err(actual) => cur = actual,
                }
            }
        }
        l.len.store(0, Ordering::Release);
        with_registry(|r| r.retain(|&p| p != list as usize));
        // Hand the kernel back glibc's list (or none). If that fails, the kernel still points
        // at ours: keep it allocated rather than let the kernel walk freed memory at exit.
        if sys_set_robust_list(l.saved_head) {
            // SAFETY: unregistered from the kernel and from the registry; no other owner.
            drop(unsafe { Box::from_raw(list as *mut ThreadList) });
        }
    }
}

/// Registers `head` (null: none) as this thread's robust list. The kernel insists on the
/// exact size of the head, whatever glibc reported.
fn sys_set_robust_list(head: usize) -> bool {
    // SAFETY: `head` is null or points at a robust_list_head that outlives the registration
    // (ours: freed only after being replaced; glibc's: lives as long as its thread).
    unsafe {
        libc::syscall(
            libc::SYS_set_robust_list,
            head,
            std::mem::size_of::<RobustListHead>(),
        ) == 0
    }
}

#[cold]
fn register() -> Option<&'static ThreadList> {
    identity::ensure_fork_handler();
    let mut saved_head: usize = 0;
    let mut saved_len: usize = 0; // reported by the kernel; always the head's size
                                  // SAFETY: both out-pointers are valid; pid 0 means the calling thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut saved_head as *mut usize,
            &mut saved_len as *mut usize,
        )
    };
    if rc != 0 {
        saved_head = 0;
    }
    let _ = saved_len;
    let list = Box::new(ThreadList {
        head: RobustListHead {
            list_next: AtomicUsize::new(0),
            futex_offset: FUTEX_OFFSET,
            list_op_pending: AtomicUsize::new(0),
        },
        held: [const { AtomicUsize::new(0) }; MAX_HELD],
        len: AtomicUsize::new(0),
        tid: identity::tid() as u32,
        pid: identity::pid(),
        saved_head,
    });
    // An empty circular list points at itself.
    list.head
        .list_next
        .store(list.head_addr(), Ordering::Relaxed);
    let ptr = Box::into_raw(list);
    // SAFETY: just allocated; lives until ListOwner::drop.
    let l: &'static ThreadList = unsafe { &*ptr };
    if !sys_set_robust_list(&l.head as *const RobustListHead as usize) {
        // SAFETY: never registered anywhere.
        drop(unsafe { Box::from_raw(ptr) });
        return None;
    }
    if OWNER.try_with(|o| o.0.set(ptr)).is_err() {
        // Thread is exiting: undo (and keep the list allocated if the kernel still has it).
        if sys_set_robust_list(saved_head) {
            // SAFETY: unregistered again; never shared.
            drop(unsafe { Box::from_raw(ptr) });
        }
        return None;
    }
    with_registry(|r| r.push(ptr as usize));
    LIST.with(|c| c.set(ptr));
    Some(l)
}

#[inline]
fn thread_list() -> Option<&'static ThreadList> {
    let p = LIST.try_with(Cell::get).unwrap_or(DEAD);
    if p.is_null() {
        return register();
    }
    if p == DEAD {
        return None;
    }
    // SAFETY: non-null, non-DEAD pointers in LIST are live lists of this thread (or, in a
    // forked child, of the thread that forked, whose copy stays allocated: it is leaked).
    let l = unsafe { &*p };
    if l.pid != identity::pid() {
        // Forked without our fork handler having run: the kernel gave this process no list.
        after_fork_in_child();
        return register();
    }
    Some(l)
}

/// Called by the fork handler in the child: the kernel gave the child no robust list, the
/// other threads do not exist there, and the child holds none of the parent's locks.
pub(crate) fn after_fork_in_child() {
    // Async-signal-safe: plain loads and stores only. The parent's lists leak in the child
    // (small). Nothing is written that is already clear: every page written after a fork is
    // copied, and a thread that never took a lock must not initialise `OWNER` here (that
    // registers a thread-local destructor, in every child).
    let _ = LIST.try_with(|l| {
        if !l.get().is_null() {
            l.set(std::ptr::null());
            let _ = OWNER.try_with(|o| o.0.set(std::ptr::null()));
        }
    });
    if REGISTRY.locked.load(Ordering::Relaxed) {
        REGISTRY.locked.store(false, Ordering::Relaxed);
    }
    // SAFETY: the child has one thread, so nothing else touches the vector now. Only its length
    // is read (never its buffer pointer, which another thread may have been reallocating at
    // the fork). A non-empty one is leaked, not dropped, and replaced by an empty one, which
    // calls no allocator.
    unsafe {
        if !(*REGISTRY.lists.get()).is_empty() {
            std::ptr::write(REGISTRY.lists.get(), Vec::new());
        }
    }
}

/// Whether any thread of this process holds a robust lock located in `[start, start + len)`.
/// A mapping that contains such a lock must not be unmapped (the kernel and the shadow hold
/// its address).
pub fn held_in_range(start: usize, len: usize) -> bool {
    let end = start.saturating_add(len);
    with_registry(|r| {
        r.iter().any(|&p| {
            // SAFETY: registered lists stay allocated until removed under this lock.
            let l = unsafe { &*(p as *const ThreadList) };
            let n = l.len.load(Ordering::Acquire).min(MAX_HELD);
            l.held[..n].iter().any(|s| {
                let a = s.load(Ordering::Relaxed);
                a >= start && a < end
            })
        })
    })
}

impl RobustMutex {
    /// Makes a fresh, unlocked word at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes of 16 bytes, 8-aligned, inside a mapping that outlives
    /// every use of the returned reference and is only unmapped after checking
    /// [`held_in_range`]. No other thread may be using the memory.
    pub(crate) unsafe fn init_at<'a>(ptr: *mut u8) -> &'a RobustMutex {
        let m = ptr.cast::<RobustMutex>();
        // SAFETY: the caller guarantees `ptr` is valid, aligned and unused.
        unsafe {
            m.write(RobustMutex {
                word: AtomicU32::new(0),
                _reserved: 0,
                next: AtomicUsize::new(0),
            });
            &*m
        }
    }

    /// The raw word, for diagnostics and tests.
    pub fn word(&self) -> u32 {
        self.word.load(Ordering::Relaxed)
    }

    fn addr(&self) -> usize {
        self as *const RobustMutex as usize
    }

    fn entry(&self) -> usize {
        &self.next as *const AtomicUsize as usize
    }

    /// Blocks until acquired, until `deadline`, or until it fails.
    ///
    /// # Errors
    ///
    /// [`LockFail::TimedOut`], [`LockFail::NotRecoverable`], [`LockFail::WouldDeadlock`],
    /// [`LockFail::TooManyHeld`].
    #[inline]
    pub fn lock(&self, deadline: Option<Deadline>) -> Result<Acquired, LockFail> {
        self.acquire(Mode::Block(deadline))
    }

    /// Acquires only if nobody holds it.
    ///
    /// # Errors
    ///
    /// [`LockFail::WouldBlock`] when held, or the failures of [`RobustMutex::lock`].
    #[inline]
    pub fn try_lock(&self) -> Result<Acquired, LockFail> {
        self.acquire(Mode::Try)
    }

    #[inline]
    fn acquire(&self, mode: Mode) -> Result<Acquired, LockFail> {
        let list = thread_list().ok_or(LockFail::Unavailable)?;
        let n = list.len.load(Ordering::Relaxed);
        let tid = list.tid;
        if n >= MAX_HELD {
            return Err(if self.word.load(Ordering::Relaxed) & TID_MASK == tid {
                LockFail::WouldDeadlock
            } else {
                LockFail::TooManyHeld
            });
        }
        // Tell the kernel about the lock before taking it: dying between the CAS and the link
        // still marks it.
        list.head
            .list_op_pending
            .store(self.entry(), Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let result = match self
            .word
            .compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(Acquired::Clean),
            Err(cur) => self.acquire_slow(tid, cur, mode),
        };
        if result.is_ok() {
            self.link(list, n);
        }
        compiler_fence(Ordering::SeqCst);
        list.head.list_op_pending.store(0, Ordering::Relaxed);
        result
    }

    #[cold]
    fn acquire_slow(&self, tid: u32, mut cur: u32, mode: Mode) -> Result<Acquired, LockFail> {
        let mut spun = false;
        let mut slept = false;
        loop {
            let owner = cur & TID_MASK;
            if owner == 0 {
                // Free, possibly with OWNER_DIED from the kernel. After sleeping, keep
                // WAITERS set: others may still sleep, and unlock must wake them.
                let new = tid | (cur & WAITERS) | if slept { WAITERS } else { 0 };
                match self
                    .word
                    .compare_exchange(cur, new, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) if cur & OWNER_DIED != 0 => return Ok(Acquired::OwnerDied),
                    Ok(_) => return Ok(Acquired::Clean),
                    Err(actual) => {
                        cur = actual;
                        continue;
                    }
                }
            }
            if owner == NOT_RECOVERABLE {
                return Err(LockFail::NotRecoverable);
            }
            if owner == tid {
                return Err(LockFail::WouldDeadlock);
            }
            let deadline = match mode {
                Mode::Try => return Err(LockFail::WouldBlock),
                Mode::Block(d) => d,
            };
            if !spun {
                spun = true;
                futex::spin_until(|| self.word.load(Ordering::Relaxed) & TID_MASK == 0);
                cur = self.word.load(Ordering::Relaxed);
                continue;
            }
            if deadline.is_some_and(Deadline::has_passed) {
                match self.give_up(tid) {
                    Some(fail) => return Err(fail),
                    None => {
                        // Free after all: take it, whatever the clock says.
                        cur = self.word.load(Ordering::Relaxed);
                        continue;
                    }
                }
            }
            if cur & WAITERS == 0 {
                if let Err(actual) = self.word.compare_exchange(
                    cur,
                    cur | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    cur = actual;
                    continue;
                }
                cur |= WAITERS;
            }
            futex::wait(&self.word, cur, deadline);
            slept = true;
            cur = self.word.load(Ordering::Relaxed);
        }
    }

    /// Leaves a timed-out wait without stranding anyone: this thread may have been woken to
    /// take the lock (and so consumed the wake-up meant for the next sleeper) just as its
    /// deadline passed. Makes sure the current holder's unlock will wake a sleeper, by setting
    /// `FUTEX_WAITERS`. Returns `None` if the lock is free, so the caller takes it instead.
    #[cold]
    fn give_up(&self, tid: u32) -> Option<LockFail> {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            let owner = cur & TID_MASK;
            if owner == 0 {
                return None;
            }
            if owner == NOT_RECOVERABLE {
                return Some(LockFail::NotRecoverable);
            }
            if owner == tid || cur & WAITERS != 0 {
                return Some(LockFail::TimedOut);
            }
            match self.word.compare_exchange(
                cur,
                cur | WAITERS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(LockFail::TimedOut),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Puts this lock at the front of the kernel list and the top of the shadow.
    #[inline]
    fn link(&self, list: &ThreadList, n: usize) {
        self.next.store(
            list.head.list_next.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        compiler_fence(Ordering::SeqCst);
        list.head.list_next.store(self.entry(), Ordering::Relaxed);
        list.held[n].store(self.addr(), Ordering::Relaxed);
        list.len.store(n + 1, Ordering::Release);
    }

    /// Whether the calling thread holds the lock, from this thread's private record of what it
    /// holds (never from the shared word, which another process could forge).
    pub fn is_held_by_current_thread(&self) -> bool {
        let p = LIST.try_with(Cell::get).unwrap_or(DEAD);
        if p.is_null() || p == DEAD {
            return false;
        }
        // SAFETY: non-null, non-DEAD pointers in LIST are live lists (see `thread_list`).
        let list = unsafe { &*p };
        if list.pid != identity::pid() {
            return false; // a forked child holds none of its parent's locks
        }
        let n = list.len.load(Ordering::Relaxed).min(MAX_HELD);
        let me = self.addr();
        list.held[..n]
            .iter()
            .any(|a| a.load(Ordering::Relaxed) == me)
    }

    /// Whether some thread (of any process) holds the lock right now.
    pub fn is_locked(&self) -> bool {
        let owner = self.word.load(Ordering::Relaxed) & TID_MASK;
        owner != 0 && owner != NOT_RECOVERABLE
    }

    /// Whether the lock was marked not recoverable.
    pub fn is_not_recoverable(&self) -> bool {
        self.word.load(Ordering::Relaxed) & TID_MASK == NOT_RECOVERABLE
    }

    /// Releases the lock, leaving the protected state consistent. Returns `false` (and does
    /// nothing) if this thread does not hold it — for example in a forked child that inherited
    /// a guard.
    #[inline]
    pub fn unlock(&self) -> bool {
        self.release(0)
    }

    /// Releases the lock and marks it not recoverable: every later acquirer fails at once.
    /// This is what dropping an owner-died guard without marking it consistent does.
    pub fn unlock_not_recoverable(&self) -> bool {
        self.release(NOT_RECOVERABLE)
    }

    /// Releases a lock acquired with [`Acquired::OwnerDied`] without deciding: the next
    /// acquirer is told the owner died, exactly as this one was. For accessors that report
    /// the death and leave recovery to whoever takes the lock explicitly.
    pub fn unlock_still_owner_died(&self) -> bool {
        self.release(OWNER_DIED)
    }

    #[inline]
    fn release(&self, new: u32) -> bool {
        let Some(list) = thread_list() else {
            return false;
        };
        let n = list.len.load(Ordering::Relaxed);
        let me = self.addr();
        // Usually the most recent lock: search from the top.
        let Some(i) = (0..n)
            .rev()
            .find(|&i| list.held[i].load(Ordering::Relaxed) == me)
        else {
            return false;
        };
        list.head
            .list_op_pending
            .store(self.entry(), Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        // Unlink using only the shadow: the list runs head → held[n-1] → … → held[0] → head.
        let successor = if i == 0 {
            list.head_addr()
        } else {
            list.held[i - 1].load(Ordering::Relaxed) + std::mem::offset_of!(RobustMutex, next)
        };
        if i + 1 == n {
            list.head.list_next.store(successor, Ordering::Relaxed);
        } else {
            let pred = list.held[i + 1].load(Ordering::Relaxed);
            // SAFETY: `pred` is a lock this thread holds; its block stays mapped while held.
            let pred = unsafe { &*(pred as *const RobustMutex) };
            pred.next.store(successor, Ordering::Relaxed);
        }
        if i + 1 == n {
            list.len.store(n - 1, Ordering::Release);
        } else {
            // Out-of-order release (rare): shift under the registry lock, so that
            // `held_in_range` in another thread never sees an entry missing mid-shift.
            with_registry(|_| {
                for j in i..n - 1 {
                    list.held[j].store(list.held[j + 1].load(Ordering::Relaxed), Ordering::Relaxed);
                }
                list.len.store(n - 1, Ordering::Release);
            });
        }
        compiler_fence(Ordering::SeqCst);
        let tid = list.tid;
        // Fast path: held by us, nobody waiting, releasing to free.
        let mut cur =
            match self
                .word
                .compare_exchange(tid, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) if new == 0 => {
                    compiler_fence(Ordering::SeqCst);
                    list.head.list_op_pending.store(0, Ordering::Relaxed);
                    return true;
                }
                Ok(_) => tid,
                Err(actual) => actual,
            };
        let released = cur == tid
            || loop {
                if cur & TID_MASK != tid {
                    // Someone scribbled on the word; it is not ours to release.
                    break false;
                }
                // Handing the lock on still flagged keeps the waiters bit: the next holder must
                // wake the rest.
                let target = if new == OWNER_DIED {
                    OWNER_DIED | (cur & WAITERS)
                } else {
                    new
                };
                match self.word.compare_exchange_weak(
                    cur,
                    target,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break true,
                    Err(actual) => cur = actual,
                }
            };
        if released {
            if new == NOT_RECOVERABLE {
                futex::wake_all(&self.word);
            } else if cur & WAITERS != 0 {
                futex::wake(&self.word, 1);
            }
        }
        compiler_fence(Ordering::SeqCst);
        list.head.list_op_pending.store(0, Ordering::Relaxed);
        released
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Try,
    Block(Option<Deadline>),
}
