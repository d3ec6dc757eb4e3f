//! Queues between processes: Python's `multiprocessing.Queue` for Rust, and POSIX message
//! queues ([`PosixMq`]).
//!
//! [`Queue<T>`] carries any `T: Serialize + DeserializeOwned` between any number of producer
//! and consumer processes, through a ring in shared memory: no feeder thread (an item `put`
//! accepted is in shared memory when `put` returns, and is never lost while a consumer lives),
//! robust locks (a process killed mid-call leaves the queue usable), and a count limit plus a
//! byte capacity (a full queue says which bound).
//!
//! | Python | Rust |
//! |---|---|
//! | `Queue(maxsize)` | [`Queue::new`], [`Queue::builder`] |
//! | `put(x)`, `put(x, timeout=t)`, `put_nowait(x)` | [`Queue::put`], [`Queue::put_timeout`], [`Queue::try_put`] |
//! | `get()`, `get(timeout=t)`, `get_nowait()` | [`Queue::get`], [`Queue::get_timeout`], [`Queue::try_get`] |
//! | `qsize()`, `empty()`, `full()` | [`Queue::len`], [`Queue::is_empty`], [`Queue::is_full`] |
//! | `queue.Full`, `queue.Empty` | [`PutError::Full`] (with the item), [`GetError::Empty`] |
//! | `close()` | [`Queue::close`] (for every process; consumers drain, then get [`GetError::Closed`]) |
//! | `JoinableQueue`: `task_done()`, `join()` | [`JoinableQueue::task_done`] ([`TaskDoneError`] past zero), [`JoinableQueue::join`], [`JoinableQueue::join_timeout`] |
//! | `SimpleQueue`: `put`, `get`, `empty`, `close` | [`SimpleQueue`] |
//!
//! [`PosixMq`] is the kernel's named message queue (`mq_open`): bytes with priorities,
//! pollable, opened by name from unrelated programs, but a system call per message and small
//! default limits.
#![forbid(unsafe_code)]

mod error;
mod joinable;
mod posix;
mod queue;
mod raw;
mod roles;

pub use error::{GetError, Limit, PutError};
pub use joinable::{JoinableQueue, SimpleQueue, TaskDoneError};
pub use posix::{PosixMq, PosixMqAttributes, PosixMqOptions, PosixMqRecvError, PosixMqSendError};
pub use queue::{
    Queue, QueueBuilder, DEFAULT_CAPACITY, DEFAULT_MAX_MESSAGE, MAX_CAPACITY, MIN_CAPACITY,
};
