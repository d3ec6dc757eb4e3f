//! Shared memory across processes: Python's `multiprocessing.Value`, `Array`, `RawValue`,
//! `RawArray` and `shared_memory.SharedMemory`, for Rust.
//!
//! ```
//! use multiproc_shm::Value;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let counter = Value::new(0u64)?;
//! // Fork children here: they share `counter`. Each increments it under the lock:
//! counter.with_lock(|n| *n += 1)?;
//! assert_eq!(counter.get()?, 1);
//! # Ok(()) }
//! ```
//!
//! # What is here
//!
//! | type | Python | what it is |
//! |---|---|---|
//! | [`Value<T>`] | `Value(typecode, x)` | a `T` behind a robust, process-shared lock |
//! | [`RawValue<T>`] | `RawValue(typecode, x)` | a `T` without a lock (copies may tear) |
//! | [`Array<T>`] | `Array(typecode, n_or_seq)` | `[T]` behind one robust lock |
//! | [`RawArray<T>`] | `RawArray(typecode, n_or_seq)` | `[T]` without a lock |
//! | [`Atomic<T>`] | — | a lock-free integer (`fetch_add`, `compare_exchange`) |
//! | [`SharedMemory`] | `shared_memory.SharedMemory` | a named segment, opened by name |
//! | [`cleanup`], [`cleanup_with_prefix`] | the resource tracker | removes segments whose creator died |
//!
//! # Sharing
//!
//! `Value`, `RawValue`, `Array`, `RawArray` and `Atomic` live in sealed memfds: nothing to leak
//! in `/dev/shm`. Share one with a child by creating it before forking, or with any process by
//! sending its fd ([`std::os::fd::AsFd`]) over a Unix socket and calling `from_fd` there.
//! [`SharedMemory`] segments have names that any process of the same user can open.
//!
//! # Locks that survive their holder
//!
//! When a process dies holding a lock, the next `lock()` returns [`LockError::OwnerDied`] with
//! the guard, within milliseconds: repair the data if needed and call `make_consistent()`, or
//! drop the guard to mark the lock [`NotRecoverable`](LockError::NotRecoverable) for everyone.
//! Locking twice in one thread is [`LockError::WouldDeadlock`], never a hang. Guards are not
//! `Send`.
//!
//! # Element types
//!
//! Plain old data: any [`bytemuck::Pod`] type (derive it for your structs), and for the locked
//! types also types such as `bool` whose bytes are checked before use
//! ([`bytemuck::NoUninit`] + [`bytemuck::CheckedBitPattern`]). Nothing another process writes
//! can make this process read an invalid value.
//!
//! Linux only. See the workspace's `docs/safety.md` for the threat model.

#![cfg(target_os = "linux")]

mod array;
mod atomic;
mod error;
mod lock;
mod shared_memory;
mod sys;
mod typed;
mod value;

pub use bytemuck;
#[doc(inline)]
pub use multiproc_internal::guard::{ConditionGuard, LockError, TryLockError};

pub use crate::{
    array::{Array, ArrayGuard, RawArray},
    atomic::{Atomic, AtomicPrimitive},
    error::{AccessError, OutOfBounds, SegmentError},
    shared_memory::{cleanup, cleanup_with_prefix, SharedMemory},
    value::{RawValue, Value, ValueGuard},
};
