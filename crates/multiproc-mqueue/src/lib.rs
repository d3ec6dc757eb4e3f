//! Queues between processes: Python's `multiprocessing.Queue`, `JoinableQueue` and
//! `SimpleQueue` for Rust, and POSIX message queues.
#![forbid(unsafe_code)]
