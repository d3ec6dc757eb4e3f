//! `Lock`: a robust mutual-exclusion lock shared between processes.

use crate::handle::shared_handle;
use multiproc_internal::clock::Deadline;
use multiproc_internal::guard::{
    acquire, flatten, ConditionGuard, Held, LockError, RelockHandle, TryLockError, Wait, WaitToken,
};
use multiproc_internal::object::{Kind, SharedObject};
use multiproc_internal::robust::RobustMutex;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

const KIND: Kind = Kind {
    magic: *b"MPLOCK\0\0",
    version: 1,
    payload: 64,
    name: "lock",
};
/// The robust lock word and its kernel link. A zeroed word is an unlocked lock, and blocks
/// start zeroed: nothing to initialise.
const MUTEX: usize = KIND.at(0);

/// A lock shared between processes: Python's `multiprocessing.Lock`, with a guard.
///
/// Taking it returns a [`LockGuard`]; dropping the guard releases it (Python's `with lock:`).
///
/// # When the holder dies
///
/// If a process dies holding the lock (SIGKILL, crash), the next [`lock`](Lock::lock) returns
/// [`LockError::OwnerDied`] with the guard, within milliseconds and whether or not others were
/// already waiting. Repair whatever the lock protects, then call
/// [`LockGuard::make_consistent`]. Dropping that guard without it makes the lock
/// [`NotRecoverable`](LockError::NotRecoverable): every later `lock` fails at once, never hangs.
///
/// Taking the lock twice in one thread is [`LockError::WouldDeadlock`] (use an [`RLock`] for
/// re-entrant locking). Uncontended, `lock` and `unlock` are one atomic instruction each;
/// contended, a waiter spins briefly, then sleeps on a futex.
///
/// [`RLock`]: crate::RLock
///
/// # Examples
///
/// ```
/// use multiproc_sync::{Lock, LockError};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let lock = Lock::new()?; // before forking: parent and children share it
/// {
///     // with lock: (an error that carries a guard borrows the lock: drop the guard to `?` it)
///     let _guard = lock.lock().map_err(LockError::without_guard)?;
///     assert!(lock.try_lock().is_err());
/// }
/// // A holder that died is reported, and the data can be repaired:
/// let guard = match lock.lock() {
///     Ok(guard) => guard,
///     Err(LockError::OwnerDied(mut guard)) => {
///         // ... repair the shared state ...
///         guard.make_consistent();
///         guard
///     }
///     Err(e) => return Err(e.without_guard().into()),
/// };
/// drop(guard);
/// # Ok(()) }
/// ```
pub struct Lock {
    obj: SharedObject,
}

impl Lock {
    /// A new anonymous lock, unlocked. Share it by forking after creating it, or by sending
    /// its fd ([`Lock::from_fd`]).
    ///
    /// # Errors
    ///
    /// OS errors creating the memfd.
    pub fn new() -> io::Result<Lock> {
        Ok(Lock {
            obj: SharedObject::create(&KIND, None, |_| {})?,
        })
    }

    /// A new named lock that unrelated processes can [`open`](Lock::open); the creator's
    /// handle unlinks the name when dropped.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name exists; `InvalidInput` for bad names.
    pub fn create_named(name: &str) -> io::Result<Lock> {
        Ok(Lock {
            obj: SharedObject::create(&KIND, Some(name), |_| {})?,
        })
    }

    fn mutex(&self) -> &RobustMutex {
        self.obj
            .block()
            .robust_mutex(MUTEX)
            .expect("the lock word is inside the block")
    }

    fn guard(&self, wait: Wait) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        acquire(self.mutex(), wait, || true, |held| LockGuard { held })
    }

    /// Takes the lock, blocking until it is free.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard: the lock is yours),
    /// [`LockError::NotRecoverable`], [`LockError::WouldDeadlock`] if this thread holds it,
    /// [`LockError::TooManyHeld`].
    pub fn lock(&self) -> Result<LockGuard<'_>, LockError<LockGuard<'_>>> {
        flatten(self.guard(Wait::Forever))
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held; otherwise as [`Lock::lock`].
    pub fn try_lock(&self) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        self.guard(Wait::Try)
    }

    /// Takes the lock, waiting at most `timeout` (monotonic clock).
    ///
    /// # Errors
    ///
    /// [`TryLockError::Timeout`]; otherwise as [`Lock::lock`].
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        self.guard(Wait::Until(Deadline::after(timeout)))
    }

    /// Takes the lock, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// [`TryLockError::Timeout`]; otherwise as [`Lock::lock`].
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        self.guard(Wait::Until(Deadline::from_instant(deadline)))
    }

    /// Whether some thread of some process holds the lock (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.mutex().is_locked()
    }

    /// Whether a holder died and nobody marked the state consistent: every `lock` fails.
    pub fn is_not_recoverable(&self) -> bool {
        self.mutex().is_not_recoverable()
    }
}

shared_handle!(Lock, KIND, "lock", open);

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .field("name", &self.name())
            .finish()
    }
}

/// A held [`Lock`]; dropping it releases the lock.
///
/// Not `Send`: the lock belongs to the thread that took it.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let lock = multiproc_sync::Lock::new().unwrap();
/// send(lock.lock().unwrap());
/// ```
pub struct LockGuard<'a> {
    held: Held<'a>,
}

impl LockGuard<'_> {
    /// After [`LockError::OwnerDied`]: declares the protected state consistent again, so the
    /// lock stays usable. Without it, dropping the guard makes the lock
    /// [`NotRecoverable`](LockError::NotRecoverable).
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn make_consistent(&mut self) {
        self.held.make_consistent();
    }

    /// Whether dropping this guard leaves the lock usable (false after an owner death until
    /// [`make_consistent`](LockGuard::make_consistent)).
    pub fn is_consistent(&self) -> bool {
        self.held.is_consistent()
    }
}

impl ConditionGuard for LockGuard<'_> {
    fn relock(&mut self, _: WaitToken) -> RelockHandle<'_> {
        self.held.for_wait(None)
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("consistent", &self.is_consistent())
            .finish()
    }
}

impl multiproc_internal::transfer::Transfer for Lock {
    const TAG: [u8; 8] = *b"MPLOCK\0\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([] Lock);
