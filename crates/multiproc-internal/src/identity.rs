//! Process and thread identity, cached, and reset in a forked child.
//!
//! `getpid()` and `gettid()` are real syscalls in glibc, and a cached TID is stale in a forked
//! child. The caches here are reset by a `pthread_atfork` child handler, registered the first
//! time any of them is filled. A child created by a raw `clone`/`clone3` syscall skips that
//! handler; multiproc never does that.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

static PID: AtomicI32 = AtomicI32::new(0);
static ATFORK: Once = Once::new();

thread_local! {
    static TID: Cell<i32> = const { Cell::new(0) };
}

/// Hooks that other modules run in the child after `fork`, in the forking thread.
type ChildHook = fn();
const CHILD_HOOKS: &[ChildHook] = &[crate::robust::after_fork_in_child];

/// Clears the caches of the forking thread before the fork (in the parent), so that the child
/// usually inherits them clear and need not write them: every page written after a fork is
/// copied, a few microseconds each, on the child's way to running anything.
extern "C" fn before_fork() {
    // Async-signal-safe: an atomic store and a thread-local access. The parent caches again
    // at its next call.
    PID.store(0, Ordering::Relaxed);
    let _ = TID.try_with(|t| t.set(0));
}

extern "C" fn after_fork_child() {
    // Async-signal-safe: atomic loads and stores and thread-local accesses only. Another
    // thread may have cached the parent's PID again between `before_fork` and the fork
    // itself: reset what is set, write nothing that is clear already.
    if PID.load(Ordering::Relaxed) != 0 {
        PID.store(0, Ordering::Relaxed);
    }
    let _ = TID.try_with(|t| {
        if t.get() != 0 {
            t.set(0);
        }
    });
    for hook in CHILD_HOOKS {
        hook();
    }
}

fn register_atfork() {
    ATFORK.call_once(|| {
        // SAFETY: `before_fork` and `after_fork_child` are `extern "C" fn()`s that only
        // perform async-signal-safe operations; registering them has no other precondition.
        let rc = unsafe { libc::pthread_atfork(Some(before_fork), None, Some(after_fork_child)) };
        // pthread_atfork fails only with ENOMEM; without the handler the caches would be
        // wrong in children, so fall back to never caching.
        if rc != 0 {
            NO_CACHE.store(1, Ordering::Relaxed);
        }
    });
}

static NO_CACHE: AtomicI32 = AtomicI32::new(0);

/// The current process id, cached.
#[inline]
pub fn pid() -> i32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    pid_slow()
}

#[cold]
fn pid_slow() -> i32 {
    register_atfork();
    // SAFETY: getpid has no preconditions and cannot fail.
    let p = unsafe { libc::getpid() };
    if NO_CACHE.load(Ordering::Relaxed) == 0 {
        PID.store(p, Ordering::Relaxed);
    }
    p
}

/// The current thread id (the kernel's TID, as a robust futex word holds it), cached.
#[inline]
pub fn tid() -> i32 {
    let t = TID.with(Cell::get);
    if t != 0 {
        return t;
    }
    tid_slow()
}

#[cold]
fn tid_slow() -> i32 {
    register_atfork();
    // SAFETY: gettid has no preconditions and cannot fail.
    let t = unsafe { libc::gettid() };
    if NO_CACHE.load(Ordering::Relaxed) == 0 {
        TID.with(|c| c.set(t));
    }
    t
}

/// Makes sure the fork handler is installed (idempotent, cheap after the first call).
pub fn ensure_fork_handler() {
    register_atfork();
}
