//! `Array<T>` (behind a robust lock) and `RawArray<T>` (no lock).

use crate::error::{check_range, AccessError, OutOfBounds};
use crate::lock::{acquire, flatten, for_access, HasHeld, Held, Wait};
use crate::typed::{Kind, Typed, PREFAULT_MIN};
use bytemuck::{CheckedBitPattern, NoUninit, Pod, Zeroable};
use multiproc_internal::clock::Deadline;
use multiproc_internal::guard::{ConditionGuard, LockError, RelockHandle, TryLockError, WaitToken};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

const ARRAY: Kind = Kind {
    magic: *b"MPARRAY\0",
    name: "array",
    locked: true,
    data_min: 128,
};

const RAW_ARRAY: Kind = Kind {
    magic: *b"MPRARRAY",
    name: "raw-array",
    locked: false,
    data_min: 64,
};

/// A fixed-length array of `T` in shared memory behind one robust, process-shared lock:
/// Python's `multiprocessing.Array`.
///
/// Share it like [`Value`](crate::Value): create it before forking, or send its fd. Element
/// types are as for `Value` (`bool` works). Lock it to get a guard that dereferences to `[T]`
/// — slices, iterators, `fill`, `copy_from_slice`, at memory speed — or run a closure under it
/// ([`with_lock`](Array::with_lock)), or use the one-shot
/// accessors ([`get`](Array::get), [`set`](Array::set), [`read`](Array::read),
/// [`write`](Array::write), [`to_vec`](Array::to_vec)).
///
/// For a type with invalid bit patterns (`bool`), taking the lock checks every element, which
/// costs time proportional to the length; for `Pod` types the check compiles to nothing.
///
/// # Examples
///
/// ```
/// use multiproc_shm::Array;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let a = Array::from_slice(&[1u32, 2, 3])?;
/// a.set(0, 10)?;
/// a.with_lock(|all| {
///     all[1] *= 10;
///     all.iter_mut().for_each(|x| *x += 1);
/// })?;
/// assert_eq!(a.to_vec()?, vec![11, 21, 4]);
/// # Ok(()) }
/// ```
#[doc(alias = "multiprocessing.Array")]
pub struct Array<T> {
    pub(crate) inner: Typed<T>,
}

impl<T: NoUninit + CheckedBitPattern> Array<T> {
    /// A new shared array holding a copy of `items`.
    ///
    /// # Errors
    ///
    /// OS errors creating the memfd; `InvalidInput` for a size that cannot be represented;
    /// `OutOfMemory` when the system cannot back it.
    pub fn from_slice(items: &[T]) -> io::Result<Self> {
        Ok(Array {
            inner: Typed::create_with(&ARRAY, items)?,
        })
    }

    /// Rebuilds an array from an fd received from another process.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the fd is not a multiproc `Array` of a type with `T`'s size and
    /// alignment, or not sealed.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        Ok(Array {
            inner: Typed::from_fd(&ARRAY, fd, None)?,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn guard(&self, wait: Wait) -> Result<ArrayGuard<'_, T>, TryLockError<ArrayGuard<'_, T>>> {
        acquire(
            self.inner.mutex(),
            wait,
            || crate::sys::valid(&self.inner),
            |held| ArrayGuard { array: self, held },
        )
    }

    /// Locks the whole array, blocking until the lock is free.
    ///
    /// # Errors
    ///
    /// As [`Value::lock`](crate::Value::lock).
    #[doc(alias = "get_lock")]
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        flatten(self.guard(Wait::Forever))
    }

    /// Locks only if the lock is free now.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] when held; otherwise as [`Array::lock`].
    pub fn try_lock(&self) -> Result<ArrayGuard<'_, T>, TryLockError<ArrayGuard<'_, T>>> {
        self.guard(Wait::Try)
    }

    /// Locks, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`TryLockError::Timeout`] when the time runs out; otherwise as [`Array::lock`].
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ArrayGuard<'_, T>, TryLockError<ArrayGuard<'_, T>>> {
        self.guard(Wait::Until(Deadline::after(timeout)))
    }

    /// Locks, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`Array::lock_timeout`].
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<ArrayGuard<'_, T>, TryLockError<ArrayGuard<'_, T>>> {
        self.guard(Wait::Until(Deadline::from_instant(deadline)))
    }

    fn access(&self) -> Result<ArrayGuard<'_, T>, AccessError> {
        for_access(self.lock())
    }

    /// Runs `f` on the whole slice under the lock (Python's `with a.get_lock(): …`).
    ///
    /// # Errors
    ///
    /// As [`Value::with_lock`](crate::Value::with_lock).
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R, AccessError> {
        let mut guard = self.access()?;
        Ok(f(&mut guard))
    }

    /// Reads element `index` under the lock (Python's `a[i]`).
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`]; the lock failures of [`Value::get`](crate::Value::get).
    pub fn get(&self, index: usize) -> Result<T, AccessError> {
        check_range(index, 1, self.len())?;
        Ok(self.access()?[index])
    }

    /// Writes element `index` under the lock (Python's `a[i] = x`).
    ///
    /// # Errors
    ///
    /// As [`Array::get`]; nothing is written on error.
    pub fn set(&self, index: usize, value: T) -> Result<(), AccessError> {
        check_range(index, 1, self.len())?;
        self.access()?[index] = value;
        Ok(())
    }

    /// Copies `out.len()` elements starting at `start` into `out`, under the lock (Python's
    /// `a[start:end]`).
    ///
    /// # Errors
    ///
    /// As [`Array::get`].
    pub fn read(&self, start: usize, out: &mut [T]) -> Result<(), AccessError> {
        check_range(start, out.len(), self.len())?;
        if std::mem::size_of_val(out) >= PREFAULT_MIN {
            self.inner.prefault(start, out.len());
        }
        out.copy_from_slice(&self.access()?[start..start + out.len()]);
        Ok(())
    }

    /// Copies `items` into the array starting at `start`, under the lock (Python's
    /// `a[start:end] = items`).
    ///
    /// # Errors
    ///
    /// As [`Array::get`].
    pub fn write(&self, start: usize, items: &[T]) -> Result<(), AccessError> {
        check_range(start, items.len(), self.len())?;
        if std::mem::size_of_val(items) >= PREFAULT_MIN {
            self.inner.prefault(start, items.len());
        }
        self.access()?[start..start + items.len()].copy_from_slice(items);
        Ok(())
    }

    /// Copies the whole array out, under the lock.
    ///
    /// # Errors
    ///
    /// The lock failures of [`Array::get`].
    pub fn to_vec(&self) -> Result<Vec<T>, AccessError> {
        if std::mem::size_of::<T>() * self.len() >= PREFAULT_MIN {
            self.inner.prefault(0, self.len());
        }
        Ok(self.access()?.to_vec())
    }

    /// Maps every page of the array into this process now (`MADV_POPULATE_WRITE`).
    ///
    /// A process that inherits or opens shared memory has no page-table entries for it and
    /// takes a page fault per 4 KiB on first touch (≈ 1–2 GB/s). Call this before bulk work
    /// through a guard to run at memory speed. The bulk copies (`read`, `write`, `to_vec`)
    /// do it themselves for ranges of 1 MiB and more.
    pub fn prefault(&self) {
        self.inner.prefault(0, self.len());
    }

    /// Whether some thread or process holds the lock right now (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.inner.mutex().is_locked()
    }
}

impl<T: NoUninit + CheckedBitPattern + Zeroable> Array<T> {
    /// A new shared array of `len` zeroed elements (Python's `Array('i', 10)`).
    ///
    /// # Errors
    ///
    /// As [`Array::from_slice`].
    pub fn zeroed(len: usize) -> io::Result<Self> {
        // A fresh memfd reads as zeros, which is `T::zeroed()` for a `Zeroable` T.
        Ok(Array {
            inner: Typed::create(&ARRAY, len)?,
        })
    }
}

impl<T> AsFd for Array<T> {
    /// The memfd behind the array, to send to another process ([`Array::from_fd`]).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.block().fd()
    }
}

impl<T> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("len", &self.inner.len())
            .finish_non_exhaustive()
    }
}

/// The lock of an [`Array`], held; dereferences to `[T]`. Releases on drop.
///
/// Not `Send`, like [`ValueGuard`](crate::ValueGuard):
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let a = multiproc_shm::Array::<u8>::zeroed(4).unwrap();
/// send(a.lock().unwrap());
/// ```
pub struct ArrayGuard<'a, T> {
    pub(crate) array: &'a Array<T>,
    held: Held<'a>,
}

/// A [`Condition`](https://docs.rs/multiproc-sync/latest/multiproc_sync/struct.Condition.html)
/// can wait with this guard: Python's `Condition(lock=...get_lock())`.
impl<T: NoUninit + CheckedBitPattern> ConditionGuard for ArrayGuard<'_, T> {
    fn relock(&mut self, _: WaitToken) -> RelockHandle<'_> {
        self.held.for_wait(Some(&self.array.inner))
    }
}

impl<'a, T> HasHeld<'a> for ArrayGuard<'a, T> {
    fn held_mut(&mut self) -> &mut Held<'a> {
        &mut self.held
    }
}

impl<T> ArrayGuard<'_, T> {
    /// After [`LockError::OwnerDied`]: declares the data consistent again. Without this,
    /// dropping the guard makes the lock not recoverable.
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn make_consistent(&mut self) {
        self.held.make_consistent();
    }

    /// Whether dropping this guard leaves the lock usable.
    pub fn is_consistent(&self) -> bool {
        self.held.is_consistent()
    }
}

impl<T: fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A fixed-length array of `T` in shared memory without a lock: Python's
/// `multiprocessing.RawArray`.
///
/// Access is by copy, made of relaxed atomic loads and stores: a copy racing with another
/// process's write may be torn but is never undefined behaviour, hence `T: Pod`. For direct
/// slices there are `unsafe` accessors whose contract you uphold.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let a = multiproc_shm::RawArray::<f64>::zeroed(4)?;
/// a.write(1, &[1.0, 2.0])?;
/// assert_eq!(a.to_vec(), vec![0.0, 1.0, 2.0, 0.0]);
/// # Ok(()) }
/// ```
#[doc(alias = "multiprocessing.RawArray")]
pub struct RawArray<T> {
    pub(crate) inner: Typed<T>,
}

impl<T: Pod> RawArray<T> {
    /// A new shared array holding a copy of `items`.
    ///
    /// # Errors
    ///
    /// As [`Array::from_slice`].
    pub fn from_slice(items: &[T]) -> io::Result<Self> {
        Ok(RawArray {
            inner: Typed::create_with(&RAW_ARRAY, items)?,
        })
    }

    /// A new shared array of `len` zeroed elements.
    ///
    /// # Errors
    ///
    /// As [`Array::zeroed`].
    pub fn zeroed(len: usize) -> io::Result<Self> {
        Ok(RawArray {
            inner: Typed::create(&RAW_ARRAY, len)?,
        })
    }

    /// Rebuilds a raw array from an fd received from another process.
    ///
    /// # Errors
    ///
    /// As [`Array::from_fd`].
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        Ok(RawArray {
            inner: Typed::from_fd(&RAW_ARRAY, fd, None)?,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies element `index` out.
    ///
    /// # Errors
    ///
    /// [`OutOfBounds`] when `index >= len`.
    pub fn get(&self, index: usize) -> Result<T, OutOfBounds> {
        let mut v = [T::zeroed()];
        self.read(index, &mut v)?;
        Ok(v[0])
    }

    /// Copies `value` into element `index`.
    ///
    /// # Errors
    ///
    /// [`OutOfBounds`] when `index >= len`.
    pub fn set(&self, index: usize, value: T) -> Result<(), OutOfBounds> {
        self.write(index, &[value])
    }

    /// Copies `out.len()` elements starting at `start` into `out`.
    ///
    /// # Errors
    ///
    /// [`OutOfBounds`] when the range does not fit.
    pub fn read(&self, start: usize, out: &mut [T]) -> Result<(), OutOfBounds> {
        check_range(start, out.len(), self.len())?;
        if std::mem::size_of_val(out) >= PREFAULT_MIN {
            self.inner.prefault(start, out.len());
        }
        let loaded = self
            .inner
            .block()
            .load(self.inner.offset_of(start), bytemuck::cast_slice_mut(out));
        debug_assert!(loaded, "checked against the length above");
        Ok(())
    }

    /// Copies `items` into the array starting at `start`.
    ///
    /// # Errors
    ///
    /// [`OutOfBounds`] when the range does not fit.
    pub fn write(&self, start: usize, items: &[T]) -> Result<(), OutOfBounds> {
        check_range(start, items.len(), self.len())?;
        if std::mem::size_of_val(items) >= PREFAULT_MIN {
            self.inner.prefault(start, items.len());
        }
        let stored = self
            .inner
            .block()
            .store(self.inner.offset_of(start), bytemuck::cast_slice(items));
        debug_assert!(stored, "checked against the length above");
        Ok(())
    }

    /// Copies the whole array out.
    pub fn to_vec(&self) -> Vec<T> {
        let mut v = vec![T::zeroed(); self.len()];
        self.read(0, &mut v).expect("the whole array is in bounds");
        v
    }

    /// Maps every page into this process now; see [`Array::prefault`].
    pub fn prefault(&self) {
        self.inner.prefault(0, self.len());
    }

    /// A raw pointer to the first element, valid while `self` lives.
    pub fn as_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }
}

impl<T> AsFd for RawArray<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.block().fd()
    }
}

impl<T> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArray")
            .field("len", &self.inner.len())
            .finish_non_exhaustive()
    }
}

impl<T: NoUninit + CheckedBitPattern> multiproc_internal::transfer::Transfer for Array<T> {
    const TAG: [u8; 8] = *b"MPARRAY\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: NoUninit + CheckedBitPattern] Array<T>);

impl<T: Pod> multiproc_internal::transfer::Transfer for RawArray<T> {
    const TAG: [u8; 8] = *b"MPRARRAY";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: Pod] RawArray<T>);
