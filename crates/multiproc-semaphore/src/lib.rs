//! Counting and bounded semaphores shared between processes: Python's
//! `multiprocessing.Semaphore` and `BoundedSemaphore`, for Rust.
//!
//! ```
//! use multiproc_semaphore::Semaphore;
//!
//! # fn main() -> std::io::Result<()> {
//! let workers = Semaphore::new(4)?; // at most 4 processes in the section at once
//! {
//!     let _slot = workers.access(); // Python: `with sem:`
//!     // … work …
//! }
//! assert_eq!(workers.value(), 4);
//! # Ok(()) }
//! ```
//!
//! | Python | here |
//! |---|---|
//! | `Semaphore(n)`, `BoundedSemaphore(n)` | [`Semaphore::new`], [`BoundedSemaphore::new`] |
//! | `acquire()` | [`acquire`](Semaphore::acquire) |
//! | `acquire(False)` | [`try_acquire`](Semaphore::try_acquire) |
//! | `acquire(timeout=t)` | [`acquire_timeout`](Semaphore::acquire_timeout) |
//! | `release()` | [`release`](Semaphore::release) (bounded: an error past the bound) |
//! | `with sem:` | [`access`](Semaphore::access) (a guard) |
//! | `get_value()` | [`value`](Semaphore::value) |
//! | `sem_open` (named) | [`create_named`](Semaphore::create_named), [`open`](Semaphore::open) |
//!
//! A semaphore has no owner: a process that dies holding units keeps them, and nobody is
//! told. Use [`acquire_timeout`](Semaphore::acquire_timeout) where that must not stall you.
//!
//! Linux only.

#![cfg(target_os = "linux")]

mod semaphore;

pub use crate::semaphore::{
    BoundedSemaphore, BoundedSemaphoreGuard, ReleaseError, Semaphore, SemaphoreGuard, MAX_VALUE,
};
