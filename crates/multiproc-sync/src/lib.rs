//! Synchronisation between processes: Python's `multiprocessing.Event` and `Barrier`, for
//! Rust (with `Semaphore` re-exported). `Lock`, `RLock` and `Condition` are still to come.
//!
//! ```
//! use multiproc_sync::{Barrier, Event};
//!
//! # fn main() -> std::io::Result<()> {
//! let go = Event::new()?;        // created before forking: shared with children
//! let all_here = Barrier::new(1)?;
//! go.set();
//! go.wait();
//! assert_eq!(all_here.wait(), Ok(0));
//! # Ok(()) }
//! ```
//!
//! | Python | here |
//! |---|---|
//! | `Event()`: `set`, `clear`, `is_set`, `wait(timeout)` | [`Event`]: [`set`](Event::set), [`clear`](Event::clear), [`is_set`](Event::is_set), [`wait`](Event::wait), [`wait_timeout`](Event::wait_timeout) |
//! | `Barrier(n)`: `wait(timeout)`, `abort`, `reset`, `broken`, `n_waiting`, `parties` | [`Barrier`]: [`wait`](Barrier::wait), [`wait_timeout`](Barrier::wait_timeout), [`abort`](Barrier::abort), [`reset`](Barrier::reset), [`is_broken`](Barrier::is_broken), [`n_waiting`](Barrier::n_waiting), [`parties`](Barrier::parties) |
//! | `BrokenBarrierError` | [`BrokenBarrier`] |
//! | `Semaphore`, `BoundedSemaphore` | re-exported from `multiproc-semaphore` |
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
