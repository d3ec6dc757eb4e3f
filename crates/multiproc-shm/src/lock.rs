//! What the one-shot accessors make of a lock result. The guard core itself (`Held`,
//! `acquire`, the errors) lives in `multiproc_internal::guard`, shared with `multiproc-sync`.

use crate::error::AccessError;
pub(crate) use multiproc_internal::guard::{acquire, flatten, Held, LockError, Release, Wait};

/// A guard built on [`Held`] (crate-private: nobody outside may reach a guard's `Held`).
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
