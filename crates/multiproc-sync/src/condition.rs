//! `Condition`: a condition variable shared between processes.

use crate::handle::shared_handle;
use multiproc_internal::clock::Deadline;
use multiproc_internal::guard::{CondWords, ConditionGuard, LockError};
use multiproc_internal::object::{Kind, SharedObject};
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

const KIND: Kind = Kind {
    magic: *b"MPCONDVR",
    version: 1,
    payload: 64,
    name: "condition",
};
/// The sequence number every notify changes (the futex), and how many waiters may sleep.
const SEQ: usize = KIND.at(0);
const WAITERS: usize = KIND.at(4);

/// A condition variable shared between processes: Python's `multiprocessing.Condition`.
///
/// It waits with the guard of a [`Lock`](crate::Lock), an [`RLock`](crate::RLock) (every
/// level is released while waiting and restored after), or a `multiproc_shm::Value`'s or
/// `Array`'s lock — Python's `Condition(lock)`. Like Python's, the lock is released while
/// waiting and held again when `wait` returns, also after a timeout.
///
/// - **No lost wake-ups.** A notify that happens after a waiter released the lock reaches it,
///   across processes. Notify while holding the lock (as Python requires) so that a state
///   change and its notify are seen together.
/// - **Waking.** [`notify(n)`](Condition::notify) wakes up to `n` sleeping waiters; waiters
///   that have released the lock but not yet gone to sleep see the notify too, so a notify can
///   wake more than `n` (never fewer while `n` wait). `wait` returns only after a notify or
///   its timeout, but a notify meant for others can end it: re-check your condition, or use
///   [`wait_while`](Condition::wait_while), which does.
/// - **Dead processes.** A notifier that dies cannot keep a waiter past its timeout. If the
///   lock's holder died, taking the lock back reports [`LockError::OwnerDied`] with the guard.
///   A waiter that dies leaves nothing behind but a count that makes later notifies issue a
///   cheap wake-up syscall.
/// - **Signals** that interrupt a wait neither shorten nor lengthen it.
///
/// One condition should be used with one lock, as in Python.
///
/// # Examples
///
/// ```
/// use multiproc_sync::{Condition, Lock, LockError};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (lock, cond) = (Lock::new()?, Condition::new()?);
/// let guard = lock.lock().map_err(LockError::without_guard)?;
/// // Nobody notifies here: the wait times out, holding the lock again.
/// let (guard, notified) = cond
///     .wait_timeout(guard, Duration::from_millis(10))
///     .map_err(LockError::without_guard)?;
/// assert!(!notified);
/// drop(guard);
/// # Ok(()) }
/// ```
pub struct Condition {
    obj: SharedObject,
}

impl Condition {
    /// A new anonymous condition variable. Share it by forking after creating it, or by sending
    /// its fd ([`Condition::from_fd`]).
    ///
    /// # Errors
    ///
    /// OS errors creating the memfd.
    pub fn new() -> io::Result<Condition> {
        Ok(Condition {
            obj: SharedObject::create(&KIND, None, |_| {})?,
        })
    }

    /// A new named condition variable that unrelated processes can
    /// [`open`](Condition::open); the creator's handle unlinks the name when dropped.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name exists; `InvalidInput` for bad names.
    pub fn create_named(name: &str) -> io::Result<Condition> {
        Ok(Condition {
            obj: SharedObject::create(&KIND, Some(name), |_| {})?,
        })
    }

    fn words(&self) -> CondWords<'_> {
        let b = self.obj.block();
        let inside = "condition words are inside the block";
        CondWords {
            seq: b.atomic_u32(SEQ).expect(inside),
            waiters: b.atomic_u32(WAITERS).expect(inside),
        }
    }

    /// Releases the guard's lock, waits for a notify, and takes the lock back.
    ///
    /// The lock is released as dropping the guard would release it: waiting with a guard
    /// from [`LockError::OwnerDied`] that was not yet
    /// [made consistent](crate::LockGuard::make_consistent) makes the lock not recoverable
    /// for everyone, and this wait then returns [`LockError::NotRecoverable`]. Repair first.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) if the lock's holder died meanwhile;
    /// [`LockError::NotRecoverable`]; [`LockError::NotOwner`] if the guard's lock was already
    /// released (an [`RLock`](crate::RLock) released explicitly); [`LockError::Corrupted`] for
    /// a shm `Value<bool>` whose bytes another process garbled.
    pub fn wait<G: ConditionGuard>(&self, guard: G) -> Result<G, LockError<G>> {
        self.words().wait(guard, None).map(|(g, _)| g)
    }

    /// As [`wait`](Condition::wait), waiting at most `timeout` (monotonic clock) for the
    /// notify. The `bool` is Python's return value: `false` if the time ran out. The lock is
    /// held again either way.
    ///
    /// # Errors
    ///
    /// As [`Condition::wait`].
    pub fn wait_timeout<G: ConditionGuard>(
        &self,
        guard: G,
        timeout: Duration,
    ) -> Result<(G, bool), LockError<G>> {
        self.words().wait(guard, Deadline::after(timeout))
    }

    /// As [`wait_timeout`](Condition::wait_timeout), with a deadline.
    ///
    /// # Errors
    ///
    /// As [`Condition::wait`].
    pub fn wait_deadline<G: ConditionGuard>(
        &self,
        guard: G,
        deadline: Instant,
    ) -> Result<(G, bool), LockError<G>> {
        self.words().wait(guard, Deadline::from_instant(deadline))
    }

    /// Waits while `condition` is true: checks it with the lock held, and waits for a notify
    /// each time it is. Python's `wait_for(predicate)`, with the predicate negated as in
    /// [`std::sync::Condvar::wait_while`].
    ///
    /// # Errors
    ///
    /// As [`Condition::wait`].
    pub fn wait_while<G: ConditionGuard>(
        &self,
        guard: G,
        mut condition: impl FnMut(&mut G) -> bool,
    ) -> Result<G, LockError<G>> {
        self.wait_while_until(guard, None, &mut condition)
            .map(|(g, _)| g)
    }

    /// As [`wait_while`](Condition::wait_while), for at most `timeout`. The `bool` is Python's
    /// `wait_for` result: `true` if `condition` became false, `false` if the time ran out
    /// first. The lock is held again either way.
    ///
    /// # Errors
    ///
    /// As [`Condition::wait`].
    pub fn wait_timeout_while<G: ConditionGuard>(
        &self,
        guard: G,
        timeout: Duration,
        mut condition: impl FnMut(&mut G) -> bool,
    ) -> Result<(G, bool), LockError<G>> {
        self.wait_while_until(guard, Deadline::after(timeout), &mut condition)
    }

    fn wait_while_until<G: ConditionGuard>(
        &self,
        mut guard: G,
        deadline: Option<Deadline>,
        condition: &mut impl FnMut(&mut G) -> bool,
    ) -> Result<(G, bool), LockError<G>> {
        loop {
            if !condition(&mut guard) {
                return Ok((guard, true));
            }
            if deadline.is_some_and(Deadline::has_passed) {
                return Ok((guard, false));
            }
            guard = self.words().wait(guard, deadline)?.0;
        }
    }

    /// Wakes up to `n` waiters (Python's `notify(n)`).
    pub fn notify(&self, n: u32) {
        self.words().notify(n);
    }

    /// Wakes one waiter (Python's `notify()`).
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes every waiter (Python's `notify_all()`).
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }
}

shared_handle!(Condition, KIND, "condition variable", open);

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("name", &self.name())
            .finish()
    }
}

impl multiproc_internal::transfer::Transfer for Condition {
    const TAG: [u8; 8] = *b"MPCOND\0\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([] Condition);
