//! Error types: one per family of operations.

use multiproc_internal::guard::LockError;
use std::fmt;

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
    /// See [`LockError::Unavailable`].
    Unavailable,
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
            LockError::Unavailable => AccessError::Unavailable,
            // The accessors take the lock themselves: they never hold a released one.
            _ => AccessError::NotRecoverable,
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
            AccessError::Unavailable => LockError::<()>::Unavailable.fmt(f),
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
