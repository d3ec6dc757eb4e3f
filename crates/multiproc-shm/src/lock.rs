//! The guard core shared by `Value` and `Array`: acquiring the robust lock, mapping its
//! outcomes to the public errors, and releasing it in the right state.

use crate::error::{AccessError, LockError, TryLockError};
use multiproc_internal::clock::Deadline;
use multiproc_internal::robust::{Acquired, LockFail, RobustMutex};
use std::marker::PhantomData;

/// How a held lock is released.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Release {
    /// The data is consistent.
    Consistent,
    /// A dead owner's data was not repaired: the lock becomes not recoverable.
    NotRecoverable,
    /// Hand the owner-died state on untouched (convenience accessors).
    StillOwnerDied,
}

/// A held robust lock. `!Send` (the lock word holds this thread's id and the lock is on this
/// thread's robust list) but `Sync`, like `std::sync::MutexGuard`, whose marker it borrows.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    mutex: &'a RobustMutex,
    release: Release,
    _not_send: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

impl Held<'_> {
    pub(crate) fn make_consistent(&mut self) {
        self.release = Release::Consistent;
    }

    pub(crate) fn set_release(&mut self, r: Release) {
        self.release = r;
    }

    pub(crate) fn is_consistent(&self) -> bool {
        self.release == Release::Consistent
    }
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        match self.release {
            Release::Consistent => self.mutex.unlock(),
            Release::NotRecoverable => self.mutex.unlock_not_recoverable(),
            Release::StillOwnerDied => self.mutex.unlock_still_owner_died(),
        };
    }
}

/// How long to wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    Forever,
    Try,
    Until(Option<Deadline>),
}

/// Takes `mutex`, checks the data with `valid`, and builds the guard with `make`.
pub(crate) fn acquire<'a, G>(
    mutex: &'a RobustMutex,
    wait: Wait,
    valid: impl FnOnce() -> bool,
    make: impl FnOnce(Held<'a>) -> G,
) -> Result<G, TryLockError<G>> {
    let got = match wait {
        Wait::Forever => mutex.lock(None),
        Wait::Until(d) => mutex.lock(d),
        Wait::Try => mutex.try_lock(),
    };
    let died = match got {
        Ok(Acquired::Clean) => false,
        Ok(Acquired::OwnerDied) => true,
        Err(LockFail::WouldBlock) => return Err(TryLockError::WouldBlock),
        Err(LockFail::TimedOut) => return Err(TryLockError::Timeout),
        Err(LockFail::NotRecoverable) => return Err(LockError::NotRecoverable.into()),
        Err(LockFail::WouldDeadlock) => return Err(LockError::WouldDeadlock.into()),
        Err(LockFail::TooManyHeld) => return Err(LockError::TooManyHeld.into()),
    };
    let mut held = Held {
        mutex,
        release: if died {
            Release::NotRecoverable
        } else {
            Release::Consistent
        },
        _not_send: PhantomData,
    };
    if !valid() {
        // Garbage from another process: refuse to hand out a reference to it, and leave the
        // lock as we found it.
        held.set_release(if died {
            Release::StillOwnerDied
        } else {
            Release::Consistent
        });
        return Err(LockError::Corrupted.into());
    }
    let guard = make(held);
    if died {
        Err(LockError::OwnerDied(guard).into())
    } else {
        Ok(guard)
    }
}

/// A guard built on [`Held`].
pub(crate) trait HasHeld<'a> {
    fn held_mut(&mut self) -> &mut Held<'a>;
}

/// Hands an owner-died guard on without deciding about the dead holder's data: the next
/// `lock()` is told, exactly as this one was.
pub(crate) fn pass_on_owner_died<'a>(guard: &mut impl HasHeld<'a>) {
    guard.held_mut().set_release(Release::StillOwnerDied);
}

/// What the one-shot accessors (`get`, `set`, `with_lock`, …) make of a lock result: on owner
/// death they access nothing and leave the lock flagged.
pub(crate) fn for_access<'a, G: HasHeld<'a>>(r: Result<G, LockError<G>>) -> Result<G, AccessError> {
    match r {
        Ok(g) => Ok(g),
        Err(LockError::OwnerDied(mut g)) => {
            pass_on_owner_died(&mut g);
            Err(AccessError::OwnerDied)
        }
        Err(e) => Err(e.into()),
    }
}

/// The blocking form: `Forever` never yields `WouldBlock` or `Timeout`.
pub(crate) fn flatten<G>(r: Result<G, TryLockError<G>>) -> Result<G, LockError<G>> {
    match r {
        Ok(g) => Ok(g),
        Err(TryLockError::Lock(e)) => Err(e),
        Err(TryLockError::WouldBlock | TryLockError::Timeout) => {
            unreachable!("a lock without deadline neither fails to block nor times out")
        }
    }
}
