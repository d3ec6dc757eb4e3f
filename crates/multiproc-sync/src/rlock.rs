//! `RLock`: a re-entrant lock shared between processes.

use crate::handle::shared_handle;
use multiproc_internal::clock::Deadline;
use multiproc_internal::guard::{
    flatten, ConditionGuard, LockError, Reentrant, RelockHandle, TryLockError, Wait, WaitToken,
};
use multiproc_internal::object::{Kind, SharedObject};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

const KIND: Kind = Kind {
    magic: *b"MPRLOCK\0",
    version: 1,
    payload: 64,
    name: "rlock",
};
/// The robust lock (16 bytes; zeroed is unlocked), then two words only the holder writes:
/// how many levels it holds, and whether a dead holder's state awaits repair.
const MUTEX: usize = KIND.at(0);
const COUNT: usize = KIND.at(16);
const DIRTY: usize = KIND.at(20);

/// A re-entrant lock shared between processes: Python's `multiprocessing.RLock`.
///
/// The thread that holds it may take it again; it is released when every level is. The owner
/// is a thread of a process: another thread, or another process, waits.
///
/// Two ways to hold a level: a guard ([`lock`](RLock::lock) and friends; dropping it releases
/// the level), or Python's explicit pair [`acquire`](RLock::acquire) /
/// [`release`](RLock::release). Releasing by a thread that does not hold the lock is
/// [`LockError::NotOwner`], as Python raises `RuntimeError`. If the two styles are mixed, a
/// guard's drop releases one level of whatever this thread still holds, and nothing if it
/// holds none.
///
/// Owner death is handled as for [`Lock`](crate::Lock): the next acquirer gets
/// [`LockError::OwnerDied`] holding one level, and either calls `make_consistent` before
/// releasing its last level, or the lock becomes not recoverable.
///
/// # Examples
///
/// ```
/// use multiproc_sync::{LockError, RLock};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let r = RLock::new()?;
/// let outer = r.lock().map_err(LockError::without_guard)?;
/// let inner = r.lock().map_err(LockError::without_guard)?; // the same thread: no deadlock
/// assert_eq!(r.level(), 2);
/// drop(inner);
/// drop(outer);
/// assert!(!r.is_locked());
///
/// r.acquire()?; // Python style
/// r.release()?;
/// assert_eq!(r.release(), Err(LockError::NotOwner));
/// # Ok(()) }
/// ```
pub struct RLock {
    obj: SharedObject,
}

impl RLock {
    /// A new anonymous re-entrant lock, unlocked. Share it by forking after creating it, or by
    /// sending its fd ([`RLock::from_fd`]).
    ///
    /// # Errors
    ///
    /// OS errors creating the memfd.
    pub fn new() -> io::Result<RLock> {
        Ok(RLock {
            obj: SharedObject::create(&KIND, None, |_| {})?,
        })
    }

    /// A new named re-entrant lock that unrelated processes can [`open`](RLock::open); the
    /// creator's handle unlinks the name when dropped.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name exists; `InvalidInput` for bad names.
    pub fn create_named(name: &str) -> io::Result<RLock> {
        Ok(RLock {
            obj: SharedObject::create(&KIND, Some(name), |_| {})?,
        })
    }

    fn core(&self) -> Reentrant<'_> {
        let b = self.obj.block();
        let inside = "rlock words are inside the block";
        Reentrant::new(
            b.robust_mutex(MUTEX).expect(inside),
            b.atomic_u32(COUNT).expect(inside),
            b.atomic_u32(DIRTY).expect(inside),
        )
    }

    fn guard(&self, wait: Wait) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        let core = self.core();
        core.lock(wait, || RLockGuard {
            core,
            _not_send: PhantomData,
        })
    }

    /// Takes a level, blocking until the lock is free or this thread holds it.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard: the lock is yours),
    /// [`LockError::NotRecoverable`], [`LockError::TooManyHeld`];
    /// [`LockError::WouldDeadlock`] if this thread holds the same lock through another
    /// handle (opened twice in one process: levels are counted per handle's mapping).
    pub fn lock(&self) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        flatten(self.guard(Wait::Forever))
    }

    /// Takes a level if the lock is free or this thread holds it, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if another thread holds it; otherwise as [`RLock::lock`].
    pub fn try_lock(&self) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        self.guard(Wait::Try)
    }

    /// Takes a level, waiting at most `timeout` (monotonic clock).
    ///
    /// # Errors
    ///
    /// [`TryLockError::Timeout`]; otherwise as [`RLock::lock`].
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        self.guard(Wait::Until(Deadline::after(timeout)))
    }

    /// Takes a level, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// [`TryLockError::Timeout`]; otherwise as [`RLock::lock`].
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        self.guard(Wait::Until(Deadline::from_instant(deadline)))
    }

    /// Python's `acquire()`: takes a level without a guard; [`release`](RLock::release) gives
    /// it back.
    ///
    /// # Errors
    ///
    /// As [`RLock::lock`]. On [`LockError::OwnerDied`] the level **is held** (propagating the
    /// error with `?` keeps it): repair, call [`make_consistent`](RLock::make_consistent),
    /// and [`release`](RLock::release) it as usual.
    pub fn acquire(&self) -> Result<(), LockError<()>> {
        flatten(self.core().lock(Wait::Forever, || ()))
    }

    /// Python's `release()`: gives back one level held by this thread; the last one unlocks.
    ///
    /// # Errors
    ///
    /// [`LockError::NotOwner`] if this thread does not hold the lock (another thread or
    /// process does, or nobody).
    pub fn release(&self) -> Result<(), LockError<()>> {
        if self.core().unlock() {
            Ok(())
        } else {
            Err(LockError::NotOwner)
        }
    }

    /// After [`LockError::OwnerDied`]: declares the protected state consistent again.
    ///
    /// # Errors
    ///
    /// [`LockError::NotOwner`] if this thread does not hold the lock.
    pub fn make_consistent(&self) -> Result<(), LockError<()>> {
        if self.core().make_consistent() {
            Ok(())
        } else {
            Err(LockError::NotOwner)
        }
    }

    /// Whether this thread holds the lock.
    pub fn is_owned(&self) -> bool {
        self.core().is_owned()
    }

    /// How many levels this thread holds (0 when it is not the holder).
    pub fn level(&self) -> u32 {
        self.core().level()
    }

    /// Whether some thread of some process holds the lock (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.core().is_locked()
    }
}

shared_handle!(RLock, KIND, "re-entrant lock", open);

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("locked", &self.is_locked())
            .field("level", &self.level())
            .field("name", &self.name())
            .finish()
    }
}

/// One level of a held [`RLock`]; dropping it releases the level.
///
/// Not `Send`: the lock belongs to the thread that took it.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let r = multiproc_sync::RLock::new().unwrap();
/// send(r.lock().unwrap());
/// ```
pub struct RLockGuard<'a> {
    core: Reentrant<'a>,
    _not_send: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

impl RLockGuard<'_> {
    /// After [`LockError::OwnerDied`]: declares the protected state consistent again, so the
    /// lock stays usable once its last level is released.
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn make_consistent(&mut self) {
        self.core.make_consistent();
    }

    /// Whether releasing the last level leaves the lock usable.
    pub fn is_consistent(&self) -> bool {
        self.core.is_consistent()
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        self.core.unlock();
    }
}

impl ConditionGuard for RLockGuard<'_> {
    fn relock(&mut self, _: WaitToken) -> RelockHandle<'_> {
        self.core.for_wait()
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("level", &self.core.level())
            .field("consistent", &self.is_consistent())
            .finish()
    }
}

impl multiproc_internal::transfer::Transfer for RLock {
    const TAG: [u8; 8] = *b"MPRLOCK\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([] RLock);
