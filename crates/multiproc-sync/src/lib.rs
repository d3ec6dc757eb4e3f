//! Synchronisation between processes: Python's `multiprocessing.Lock`, `RLock`, `Condition`,
//! `Event` and `Barrier`, for Rust (with `Semaphore` re-exported).
//!
//! ```
//! use multiproc_sync::{Barrier, Event, Lock, LockError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lock = Lock::new()?;       // created before forking: shared with children
//! let go = Event::new()?;
//! let all_here = Barrier::new(1)?;
//! {
//!     let _guard = lock.lock().map_err(LockError::without_guard)?; // with lock:
//! }
//! go.set();
//! go.wait();
//! assert_eq!(all_here.wait(), Ok(0));
//! # Ok(()) }
//! ```
//!
//! | Python | here |
//! |---|---|
//! | `Lock()`: `acquire`, `release`, `with lock:` | [`Lock`]: [`lock`](Lock::lock), [`try_lock`](Lock::try_lock), [`lock_timeout`](Lock::lock_timeout) → [`LockGuard`], released on drop |
//! | `RLock()` | [`RLock`]: guards ([`lock`](RLock::lock) → [`RLockGuard`]) or [`acquire`](RLock::acquire)/[`release`](RLock::release) |
//! | `Condition(lock)`: `wait`, `wait_for`, `notify(n)`, `notify_all` | [`Condition`]: [`wait`](Condition::wait), [`wait_timeout`](Condition::wait_timeout), [`wait_while`](Condition::wait_while), [`notify`](Condition::notify), [`notify_all`](Condition::notify_all) — with a [`Lock`], [`RLock`] or `multiproc_shm::Value` guard |
//! | `Event()`: `set`, `clear`, `is_set`, `wait(timeout)` | [`Event`]: [`set`](Event::set), [`clear`](Event::clear), [`is_set`](Event::is_set), [`wait`](Event::wait), [`wait_timeout`](Event::wait_timeout) |
//! | `Barrier(n)`: `wait(timeout)`, `abort`, `reset`, `broken`, `n_waiting`, `parties` | [`Barrier`]: [`wait`](Barrier::wait), [`wait_timeout`](Barrier::wait_timeout), [`abort`](Barrier::abort), [`reset`](Barrier::reset), [`is_broken`](Barrier::is_broken), [`n_waiting`](Barrier::n_waiting), [`parties`](Barrier::parties) |
//! | `BrokenBarrierError` | [`BrokenBarrier`] |
//! | `Semaphore`, `BoundedSemaphore` | re-exported from `multiproc-semaphore` |
//!
//! # Locks that survive their holder
//!
//! [`Lock`] and [`RLock`] are robust: when a process dies holding one, the next acquirer gets
//! [`LockError::OwnerDied`] with the guard, within milliseconds, and decides whether the
//! protected state is consistent ([`LockGuard::make_consistent`]); if it does not, the lock
//! becomes [`NotRecoverable`](LockError::NotRecoverable) and every later attempt fails at
//! once. Nothing hangs. These are the same lock and the same errors as `multiproc_shm::Value`'s.
//!
//! Every object is shared by creating it before a fork, by sending its fd (`AsFd`, `from_fd`),
//! or by name (`create_named`, `open`). Waiting spins briefly, then sleeps on a futex; every
//! timeout is measured on the monotonic clock, and signals that interrupt a wait neither
//! shorten nor lengthen it.
//!
//! Linux only.

#![cfg(target_os = "linux")]

mod barrier;
mod condition;
mod event;
mod handle;
mod lock;
mod rlock;

pub use crate::{
    barrier::{Barrier, BrokenBarrier},
    condition::Condition,
    event::Event,
    lock::{Lock, LockGuard},
    rlock::{RLock, RLockGuard},
};
#[doc(inline)]
pub use multiproc_internal::guard::{ConditionGuard, LockError, TryLockError};
pub use multiproc_semaphore::{BoundedSemaphore, Semaphore};
