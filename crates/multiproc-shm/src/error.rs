//! Error types: one per family of operations.

use std::fmt;

/// Why a blocking `lock` failed.
///
/// `G` is the guard type: [`LockError::OwnerDied`] hands the lock over anyway, like
/// [`std::sync::PoisonError`].
#[non_exhaustive]
pub enum LockError<G> {
    /// The previous holder died holding the lock (SIGKILL, crash). The lock is now yours, but
    /// the data may be half-updated. Repair it if needed, then call the guard's
    /// `make_consistent()`; dropping the guard without it makes the lock permanently
    /// [`NotRecoverable`](LockError::NotRecoverable) for every process.
    OwnerDied(G),
    /// A holder died and nobody marked the data consistent: the lock is unusable for good.
    NotRecoverable,
    /// This thread already holds the lock; locking again would deadlock. Use the guard you
    /// have (this is how Python's `with v.get_lock(): v.value += 1` idiom translates).
    WouldDeadlock,
    /// The shared bytes are not a valid value of the type (possible only for types such as
    /// `bool` that have invalid bit patterns, and only if another process wrote garbage).
    Corrupted,
    /// This thread already holds 64 multiproc locks.
    TooManyHeld,
}

impl<G> LockError<G> {
    /// The guard of an [`OwnerDied`](LockError::OwnerDied) error.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use multiproc_shm::Value;
    /// let v = Value::new(1u32)?;
    /// let guard = match v.lock() {
    ///     Ok(g) => g,
    ///     Err(e) => e.into_guard().expect("only OwnerDied carries a guard"),
    /// };
    /// assert_eq!(*guard, 1);
    /// # Ok(()) }
    /// ```
    pub fn into_guard(self) -> Option<G> {
        match self {
            LockError::OwnerDied(g) => Some(g),
            _ => None,
        }
    }

    /// The same error without the guard (dropping it: an owner-died lock becomes not
    /// recoverable).
    pub fn without_guard(self) -> LockError<()> {
        match self {
            LockError::OwnerDied(_) => LockError::OwnerDied(()),
            LockError::NotRecoverable => LockError::NotRecoverable,
            LockError::WouldDeadlock => LockError::WouldDeadlock,
            LockError::Corrupted => LockError::Corrupted,
            LockError::TooManyHeld => LockError::TooManyHeld,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            LockError::OwnerDied(_) => {
                "the previous holder of the lock died; the data may be inconsistent"
            }
            LockError::NotRecoverable => {
                "the lock is not recoverable: a holder died and nobody marked the data consistent"
            }
            LockError::WouldDeadlock => "this thread already holds the lock",
            LockError::Corrupted => "the shared bytes are not a valid value of the type",
            LockError::TooManyHeld => "this thread holds too many multiproc locks",
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::NotRecoverable => f.write_str("NotRecoverable"),
            LockError::WouldDeadlock => f.write_str("WouldDeadlock"),
            LockError::Corrupted => f.write_str("Corrupted"),
            LockError::TooManyHeld => f.write_str("TooManyHeld"),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl<G> std::error::Error for LockError<G> {}

impl<G> PartialEq for LockError<G> {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Why `try_lock`, `lock_timeout` or `lock_deadline` did not return a guard.
#[non_exhaustive]
pub enum TryLockError<G> {
    /// `try_lock`: another thread or process holds the lock.
    WouldBlock,
    /// `lock_timeout`/`lock_deadline`: the time ran out.
    Timeout,
    /// The lock failed as a blocking `lock` would have.
    Lock(LockError<G>),
}

impl<G> From<LockError<G>> for TryLockError<G> {
    fn from(e: LockError<G>) -> Self {
        TryLockError::Lock(e)
    }
}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::Timeout => f.write_str("Timeout"),
            TryLockError::Lock(e) => f.debug_tuple("Lock").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("the lock is held by someone else"),
            TryLockError::Timeout => f.write_str("timed out waiting for the lock"),
            TryLockError::Lock(e) => e.fmt(f),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}

impl<G> PartialEq for TryLockError<G> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TryLockError::Lock(a), TryLockError::Lock(b)) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// An index or range outside an array or segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds {
    /// First index (or byte offset) asked for.
    pub start: usize,
    /// How many elements (or bytes) were asked for.
    pub len: usize,
    /// How many the array (or segment) has.
    pub size: usize,
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "range {}..{} is out of bounds for a size of {}",
            self.start,
            self.start.saturating_add(self.len),
            self.size
        )
    }
}

impl std::error::Error for OutOfBounds {}

pub(crate) fn check_range(start: usize, len: usize, size: usize) -> Result<(), OutOfBounds> {
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(OutOfBounds { start, len, size }),
    }
}

/// Why a convenience accessor of a locked type (`get`, `set`, `read`, `write`, …) failed.
///
/// These accessors take the lock for one operation. They never decide about a dead owner's
/// half-updated data: on [`OwnerDied`](AccessError::OwnerDied) they do nothing and leave the
/// lock flagged, so the next `lock()` gets [`LockError::OwnerDied`] with a guard to repair it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessError {
    /// A holder died; nothing was read or written. Recover through `lock()`.
    OwnerDied,
    /// See [`LockError::NotRecoverable`].
    NotRecoverable,
    /// See [`LockError::WouldDeadlock`]: this thread holds a guard; use it.
    WouldDeadlock,
    /// See [`LockError::Corrupted`].
    Corrupted,
    /// See [`LockError::TooManyHeld`].
    TooManyHeld,
    /// The index or range does not fit.
    OutOfBounds(OutOfBounds),
}

impl<G> From<LockError<G>> for AccessError {
    fn from(e: LockError<G>) -> Self {
        match e {
            LockError::OwnerDied(_) => AccessError::OwnerDied,
            LockError::NotRecoverable => AccessError::NotRecoverable,
            LockError::WouldDeadlock => AccessError::WouldDeadlock,
            LockError::Corrupted => AccessError::Corrupted,
            LockError::TooManyHeld => AccessError::TooManyHeld,
        }
    }
}

impl From<OutOfBounds> for AccessError {
    fn from(e: OutOfBounds) -> Self {
        AccessError::OutOfBounds(e)
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessError::OwnerDied => f.write_str(
                "the previous holder of the lock died; nothing was accessed (recover with lock())",
            ),
            AccessError::NotRecoverable => LockError::<()>::NotRecoverable.fmt(f),
            AccessError::WouldDeadlock => LockError::<()>::WouldDeadlock.fmt(f),
            AccessError::Corrupted => LockError::<()>::Corrupted.fmt(f),
            AccessError::TooManyHeld => LockError::<()>::TooManyHeld.fmt(f),
            AccessError::OutOfBounds(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AccessError {}

/// Why an access to a [`SharedMemory`](crate::SharedMemory) segment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentError {
    /// The range does not fit the segment.
    OutOfBounds(OutOfBounds),
    /// The offset is not aligned for the atomic asked for.
    Misaligned {
        /// The offset asked for.
        offset: usize,
        /// The alignment it needs.
        align: usize,
    },
    /// The segment was closed.
    Closed,
}

impl From<OutOfBounds> for SegmentError {
    fn from(e: OutOfBounds) -> Self {
        SegmentError::OutOfBounds(e)
    }
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentError::OutOfBounds(e) => e.fmt(f),
            SegmentError::Misaligned { offset, align } => {
                write!(f, "offset {offset} is not aligned to {align} bytes")
            }
            SegmentError::Closed => f.write_str("the shared memory segment is closed"),
        }
    }
}

impl std::error::Error for SegmentError {}
