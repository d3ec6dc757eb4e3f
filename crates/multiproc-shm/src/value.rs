//! `Value<T>` (behind a robust lock) and `RawValue<T>` (no lock).

use crate::error::AccessError;
use crate::lock::{acquire, flatten, for_access, pass_on_owner_died, HasHeld, Held, Wait};
use crate::typed::{Kind, Typed};
use bytemuck::{CheckedBitPattern, NoUninit, Pod};
use multiproc_internal::clock::Deadline;
use multiproc_internal::guard::{ConditionGuard, LockError, RelockHandle, TryLockError, WaitToken};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

const VALUE: Kind = Kind {
    magic: *b"MPVALUE\0",
    name: "value",
    locked: true,
    data_min: 80,
};

const RAW_VALUE: Kind = Kind {
    magic: *b"MPRVALUE",
    name: "raw-value",
    locked: false,
    data_min: 64,
};

/// A `T` in shared memory behind a robust, process-shared lock: Python's
/// `multiprocessing.Value`.
///
/// Create it before forking and the child shares it; or hand its fd ([`AsFd`]) to any process
/// over a Unix socket and rebuild it there with [`Value::from_fd`].
///
/// `T` is plain old data: any [`bytemuck::Pod`] type, or a type with checked bit patterns such
/// as `bool` ([`bytemuck::NoUninit`] + [`bytemuck::CheckedBitPattern`]). The bytes are checked
/// before a reference is handed out, so garbage from another process is an error, never an
/// invalid `bool`.
///
/// # Locking
///
/// [`lock`](Value::lock) returns a guard that dereferences to `T`, and
/// [`with_lock`](Value::with_lock) runs a closure under the lock: Python's
/// `with v.get_lock(): v.value += 1` is `v.with_lock(|x| *x += 1)?`. The lock is robust: if its holder
/// dies, the next acquirer gets [`LockError::OwnerDied`] with the guard, and decides whether
/// the data is consistent. Locking twice from one thread is [`LockError::WouldDeadlock`], never
/// a hang. [`get`](Value::get) and [`set`](Value::set) take the lock for one access.
///
/// # Examples
///
/// ```
/// use multiproc_shm::Value;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let counter = Value::new(0u64)?;
/// counter.with_lock(|n| *n += 1)?;
/// counter.set(counter.get()? + 1)?;
/// assert_eq!(counter.get()?, 2);
/// # Ok(()) }
/// ```
#[doc(alias = "multiprocessing.Value")]
pub struct Value<T> {
    pub(crate) inner: Typed<T>,
}

impl<T: NoUninit + CheckedBitPattern> Value<T> {
    /// A new shared value, holding `value`, with its own lock.
    ///
    /// # Errors
    ///
    /// OS errors creating the memfd or mapping; `InvalidInput` for types aligned beyond a
    /// page.
    pub fn new(value: T) -> io::Result<Self> {
        Ok(Value {
            inner: Typed::create_with(&VALUE, &[value])?,
        })
    }

    /// Rebuilds a value from an fd received from another process (see [`AsFd`]).
    ///
    /// # Errors
    ///
    /// `InvalidData` if the fd is not a multiproc `Value` of a type with `T`'s size and
    /// alignment, or not sealed.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        Ok(Value {
            inner: Typed::from_fd(&VALUE, fd, Some(1))?,
        })
    }

    fn guard(&self, wait: Wait) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        acquire(
            self.inner.mutex(),
            wait,
            || crate::sys::valid(&self.inner),
            |held| ValueGuard { value: self, held },
        )
    }

    /// Locks, blocking until the lock is free.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) when the previous holder died;
    /// [`LockError::NotRecoverable`], [`LockError::WouldDeadlock`], [`LockError::Corrupted`],
    /// [`LockError::TooManyHeld`].
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_shm::{LockError, Value};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let v = Value::new(41i32)?;
    /// let mut guard = match v.lock() {
    ///     Ok(guard) => guard,
    ///     Err(LockError::OwnerDied(mut guard)) => {
    ///         // A process died holding the lock: repair the value if needed, then say so.
    ///         guard.make_consistent();
    ///         guard
    ///     }
    ///     // The guard borrows `v`; drop it to return the error.
    ///     Err(e) => return Err(e.without_guard().into()),
    /// };
    /// *guard += 1;
    /// assert_eq!(*guard, 42);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "get_lock")]
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        flatten(self.guard(Wait::Forever))
    }

    /// Locks only if the lock is free now.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] when held; otherwise as [`Value::lock`].
    pub fn try_lock(&self) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        self.guard(Wait::Try)
    }

    /// Locks, waiting at most `timeout` (measured on the monotonic clock).
    ///
    /// # Errors
    ///
    /// [`TryLockError::Timeout`] when the time runs out; otherwise as [`Value::lock`].
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        self.guard(Wait::Until(Deadline::after(timeout)))
    }

    /// Locks, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`Value::lock_timeout`].
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        self.guard(Wait::Until(Deadline::from_instant(deadline)))
    }

    /// Takes the lock for one convenience access; on owner death, does nothing and leaves the
    /// lock flagged for whoever calls `lock()` next.
    fn access(&self) -> Result<ValueGuard<'_, T>, AccessError> {
        for_access(self.lock())
    }

    /// Runs `f` on the value under the lock: Python's
    /// `with v.get_lock(): v.value += 1` is `v.with_lock(|x| *x += 1)?`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OwnerDied`] if a holder died (`f` does not run; recover with
    /// [`Value::lock`]); the other lock failures.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let v = multiproc_shm::Value::new(1u32)?;
    /// let doubled = v.with_lock(|x| {
    ///     *x *= 2;
    ///     *x
    /// })?;
    /// assert_eq!(doubled, 2);
    /// # Ok(()) }
    /// ```
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, AccessError> {
        let mut guard = self.access()?;
        Ok(f(&mut guard))
    }

    /// Reads the value under the lock (Python's `v.value`).
    ///
    /// # Errors
    ///
    /// [`AccessError::OwnerDied`] if a holder died (nothing is read; recover with
    /// [`Value::lock`]); the other lock failures.
    pub fn get(&self) -> Result<T, AccessError> {
        Ok(*self.access()?)
    }

    /// Writes the value under the lock (Python's `v.value = x`).
    ///
    /// # Errors
    ///
    /// As [`Value::get`]; nothing is written on error.
    pub fn set(&self, value: T) -> Result<(), AccessError> {
        *self.access()? = value;
        Ok(())
    }

    /// Whether some thread or process holds the lock right now (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.inner.mutex().is_locked()
    }
}

impl<T> AsFd for Value<T> {
    /// The memfd behind the value: send it to another process (for instance with
    /// `SCM_RIGHTS`) and call [`Value::from_fd`] there.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.block().fd()
    }
}

impl<T: NoUninit + CheckedBitPattern + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Value");
        match self.try_lock() {
            Ok(g) => d.field("value", &*g),
            Err(TryLockError::Lock(LockError::OwnerDied(mut g))) => {
                // Printing must not decide recovery: hand the owner-died state on.
                pass_on_owner_died(&mut g);
                d.field("value", &format_args!("<owner died>"))
            }
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The lock of a [`Value`], held; dereferences to the value. Releases on drop.
///
/// Not `Send`: the lock belongs to the thread that took it (its id is in the lock word, and
/// the lock is on that thread's robust list).
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let v = multiproc_shm::Value::new(0u8).unwrap();
/// send(v.lock().unwrap());
/// ```
pub struct ValueGuard<'a, T> {
    pub(crate) value: &'a Value<T>,
    held: Held<'a>,
}

/// A [`Condition`](https://docs.rs/multiproc-sync/latest/multiproc_sync/struct.Condition.html)
/// can wait with this guard: Python's `Condition(lock=...get_lock())`.
impl<T: NoUninit + CheckedBitPattern> ConditionGuard for ValueGuard<'_, T> {
    fn relock(&mut self, _: WaitToken) -> RelockHandle<'_> {
        self.held.for_wait(Some(&self.value.inner))
    }
}

impl<'a, T> HasHeld<'a> for ValueGuard<'a, T> {
    fn held_mut(&mut self) -> &mut Held<'a> {
        &mut self.held
    }
}

impl<T> ValueGuard<'_, T> {
    /// After [`LockError::OwnerDied`]: declares the data consistent again, so the lock stays
    /// usable. Without this, dropping the guard makes the lock
    /// [`NotRecoverable`](LockError::NotRecoverable).
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn make_consistent(&mut self) {
        self.held.make_consistent();
    }

    /// Whether dropping this guard leaves the lock usable (false after an owner death until
    /// [`make_consistent`](ValueGuard::make_consistent)).
    pub fn is_consistent(&self) -> bool {
        self.held.is_consistent()
    }
}

impl<T: fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A `T` in shared memory without a lock: Python's `multiprocessing.RawValue`.
///
/// Reads and writes are copies made of relaxed atomic loads and stores: a read that races with
/// another process's write may be torn (it sees part of each), but is never undefined
/// behaviour. Hence `T: Pod` (every bit pattern valid). For lock-free counters use
/// [`Atomic`](crate::Atomic); for consistency use [`Value`].
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let v = multiproc_shm::RawValue::new(1.5f64)?;
/// v.set(2.5);
/// assert_eq!(v.get(), 2.5);
/// # Ok(()) }
/// ```
#[doc(alias = "multiprocessing.RawValue")]
pub struct RawValue<T> {
    inner: Typed<T>,
}

impl<T: Pod> RawValue<T> {
    /// A new shared value holding `value`.
    ///
    /// # Errors
    ///
    /// As [`Value::new`].
    pub fn new(value: T) -> io::Result<Self> {
        Ok(RawValue {
            inner: Typed::create_with(&RAW_VALUE, &[value])?,
        })
    }

    /// Rebuilds a raw value from an fd received from another process.
    ///
    /// # Errors
    ///
    /// As [`Value::from_fd`].
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        Ok(RawValue {
            inner: Typed::from_fd(&RAW_VALUE, fd, Some(1))?,
        })
    }

    /// Copies the value out (may be torn if another process writes concurrently).
    pub fn get(&self) -> T {
        let mut v = T::zeroed();
        let loaded = self
            .inner
            .block()
            .load(self.inner.offset_of(0), bytemuck::bytes_of_mut(&mut v));
        debug_assert!(loaded, "the value is inside its block");
        v
    }

    /// Copies `value` in.
    pub fn set(&self, value: T) {
        let stored = self
            .inner
            .block()
            .store(self.inner.offset_of(0), bytemuck::bytes_of(&value));
        debug_assert!(stored, "the value is inside its block");
    }

    /// A raw pointer to the value in shared memory, valid while `self` lives.
    pub fn as_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }
}

impl<T> AsFd for RawValue<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.block().fd()
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: NoUninit + CheckedBitPattern> multiproc_internal::transfer::Transfer for Value<T> {
    const TAG: [u8; 8] = *b"MPVALUE\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: NoUninit + CheckedBitPattern] Value<T>);

impl<T: Pod> multiproc_internal::transfer::Transfer for RawValue<T> {
    const TAG: [u8; 8] = *b"MPRVALUE";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: Pod] RawValue<T>);
