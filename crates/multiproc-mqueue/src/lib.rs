//! Queues between processes: Python's `multiprocessing.Queue`, `JoinableQueue` and
//! `SimpleQueue` for Rust, and POSIX message queues ([`PosixMq`]).
#![forbid(unsafe_code)]

mod posix;

pub use posix::{PosixMq, PosixMqAttributes, PosixMqOptions, PosixMqRecvError, PosixMqSendError};
