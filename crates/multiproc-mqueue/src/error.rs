//! The queue's errors: a failed put gives the item back.

use std::fmt;
use std::io;

/// Which limit a full queue hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The message count reached `maxsize`.
    Count(usize),
    /// The ring's bytes are taken (its capacity in bytes), or another producer's message
    /// larger than the ring is streaming through it.
    Bytes(usize),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n} messages (maxsize)"),
            Limit::Bytes(n) => write!(f, "{n} bytes (the ring's capacity)"),
        }
    }
}

/// Why a put failed. The item comes back in every case.
#[non_exhaustive]
pub enum PutError<T> {
    /// The queue stayed full (`try_put` at once, `put_timeout` at its deadline): Python's
    /// `queue.Full`.
    Full {
        /// The item, not sent.
        item: T,
        /// The limit that bound.
        limit: Limit,
    },
    /// The queue was closed ([`Queue::close`](crate::Queue::close)).
    Closed(T),
    /// The queue stayed full and every process that took from it has exited: nobody is left
    /// to make room (see [`Queue`](crate::Queue), "When a process dies").
    Disconnected(T),
    /// The encoded item is larger than the queue's message cap.
    TooLarge {
        /// The item, not sent.
        item: T,
        /// Its encoded length.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// The item could not be encoded.
    Encode {
        /// The item, not sent.
        item: T,
        /// What the encoder said.
        reason: String,
    },
    /// The queue's shared memory breaks its rules (a corrupted or hostile peer), or a system
    /// call failed: the queue cannot be used.
    Broken {
        /// The item, not sent.
        item: T,
        /// What went wrong.
        error: io::Error,
    },
}

impl<T> PutError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full { item, .. }
            | PutError::Closed(item)
            | PutError::Disconnected(item)
            | PutError::TooLarge { item, .. }
            | PutError::Encode { item, .. }
            | PutError::Broken { item, .. } => item,
        }
    }

    /// Whether the queue was full (and may take the item later).
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full { .. })
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full { limit, .. } => f.debug_struct("Full").field("limit", limit).finish(),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::Disconnected(_) => f.write_str("Disconnected(..)"),
            PutError::TooLarge { len, max, .. } => f
                .debug_struct("TooLarge")
                .field("len", len)
                .field("max", max)
                .finish(),
            PutError::Encode { reason, .. } => {
                f.debug_struct("Encode").field("reason", reason).finish()
            }
            PutError::Broken { error, .. } => {
                f.debug_struct("Broken").field("error", error).finish()
            }
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full { limit, .. } => write!(f, "the queue is full: {limit}"),
            PutError::Closed(_) => f.write_str("the queue is closed"),
            PutError::Disconnected(_) => {
                f.write_str("the queue is full and every process that took from it has exited")
            }
            PutError::TooLarge { len, max, .. } => write!(
                f,
                "an item of {len} bytes encoded is over the queue's cap of {max}"
            ),
            PutError::Encode { reason, .. } => write!(f, "the item cannot be encoded: {reason}"),
            PutError::Broken { error, .. } => write!(f, "the queue is broken: {error}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

impl<T> From<PutError<T>> for io::Error {
    fn from(e: PutError<T>) -> io::Error {
        let kind = match &e {
            PutError::Full { .. } => io::ErrorKind::WouldBlock,
            PutError::Closed(_) | PutError::Disconnected(_) => io::ErrorKind::BrokenPipe,
            PutError::TooLarge { .. } | PutError::Encode { .. } => io::ErrorKind::InvalidInput,
            PutError::Broken { error, .. } => error.kind(),
        };
        io::Error::new(kind, e.to_string())
    }
}

/// Why a get failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GetError {
    /// Nothing came (`try_get` at once, `get_timeout` at its deadline): Python's
    /// `queue.Empty`.
    Empty,
    /// The queue is closed and every message in it has been taken.
    Closed,
    /// The queue is empty and every process that put to it, and the one that created it, has
    /// exited: nothing more can come (see [`Queue`](crate::Queue), "When a process dies").
    Disconnected,
    /// A message arrived but does not decode as the queue's item type (it is consumed).
    Decode(String),
    /// A message announced itself larger than this queue's message cap (the queue is broken).
    TooLarge {
        /// The announced length.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// The queue's shared memory breaks its rules (a corrupted or hostile peer), or a system
    /// call failed: the queue cannot be used.
    Broken(io::Error),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty"),
            GetError::Closed => f.write_str("the queue is closed and drained"),
            GetError::Disconnected => f.write_str(
                "the queue is empty and every process that put to it or created it has exited",
            ),
            GetError::Decode(why) => write!(f, "a message does not decode: {why}"),
            GetError::TooLarge { len, max } => write!(
                f,
                "a message of {len} bytes announced, over the queue's cap of {max}"
            ),
            GetError::Broken(e) => write!(f, "the queue is broken: {e}"),
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Broken(e) => Some(e),
            _ => None,
        }
    }
}

impl From<GetError> for io::Error {
    fn from(e: GetError) -> io::Error {
        let kind = match &e {
            GetError::Empty => io::ErrorKind::WouldBlock,
            GetError::Closed | GetError::Disconnected => io::ErrorKind::UnexpectedEof,
            GetError::Decode(_) | GetError::TooLarge { .. } => io::ErrorKind::InvalidData,
            GetError::Broken(error) => error.kind(),
        };
        io::Error::new(kind, e.to_string())
    }
}
