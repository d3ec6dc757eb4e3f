//! Guards over robust locks, shared by every multiproc lock: the public error types, the held
//! lock a guard owns ([`Held`]), the re-entrant variant ([`Reentrant`]), and the condition
//! variable's wait, which releases a guard's lock while it sleeps and takes it again after.

use crate::clock::Deadline;
use crate::futex;
use crate::robust::{Acquired, LockFail, RobustMutex};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};

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
    /// This thread cannot hold multiproc locks: the kernel refused to register its
    /// robust-futex list (`set_robust_list`, refused by a seccomp filter or an emulator), or the
    /// thread is exiting. A lock that could not be released by the kernel when its holder dies
    /// is not offered at all.
    Unavailable,
    /// This thread does not hold the lock: releasing a re-entrant lock it does not own, or
    /// waiting on a condition with a guard whose lock was already released.
    NotOwner,
}

impl<G> LockError<G> {
    /// The guard of an [`OwnerDied`](LockError::OwnerDied) error.
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
            LockError::Unavailable => LockError::Unavailable,
            LockError::NotOwner => LockError::NotOwner,
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
            LockError::Unavailable => {
                "this thread cannot hold multiproc locks: the kernel refused its robust-futex \
                 list (set_robust_list; a seccomp filter?), or the thread is exiting"
            }
            LockError::NotOwner => "this thread does not hold the lock",
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
            LockError::Unavailable => f.write_str("Unavailable"),
            LockError::NotOwner => f.write_str("NotOwner"),
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

/// How a held lock is released.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Release {
    /// The data is consistent.
    Consistent,
    /// A dead owner's data was not repaired: the lock becomes not recoverable.
    NotRecoverable,
    /// Hand the owner-died state on untouched (convenience accessors).
    StillOwnerDied,
    /// Nothing is held any more (a condition wait failed to take the lock back).
    Nothing,
}

/// Checks the data a lock protects each time the lock is taken (types with invalid bit
/// patterns, such as `bool`, check theirs; a peer may have written garbage).
pub trait Validate {
    /// Whether the protected bytes are a valid value. Called with the lock held.
    fn is_valid(&self) -> bool;
}

/// A held robust lock. `!Send` (the lock word holds this thread's id and the lock is on this
/// thread's robust list) but `Sync`, like `std::sync::MutexGuard`, whose marker it borrows.
pub struct Held<'a> {
    mutex: &'a RobustMutex,
    release: Release,
    _not_send: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

impl fmt::Debug for Held<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held")
            .field("release", &self.release)
            .finish_non_exhaustive()
    }
}

impl Held<'_> {
    /// Declares the data consistent: the release leaves the lock usable.
    pub fn make_consistent(&mut self) {
        if self.release != Release::Nothing {
            self.release = Release::Consistent;
        }
    }

    /// Chooses how the drop releases the lock. [`Release::Nothing`] is refused: a held lock
    /// is always released.
    pub fn set_release(&mut self, r: Release) {
        if self.release != Release::Nothing && r != Release::Nothing {
            self.release = r;
        }
    }

    /// Whether dropping leaves the lock usable.
    pub fn is_consistent(&self) -> bool {
        self.release == Release::Consistent
    }

    fn release_now(&mut self) {
        match std::mem::replace(&mut self.release, Release::Nothing) {
            Release::Consistent => self.mutex.unlock(),
            Release::NotRecoverable => self.mutex.unlock_not_recoverable(),
            Release::StillOwnerDied => self.mutex.unlock_still_owner_died(),
            Release::Nothing => false,
        };
    }
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        self.release_now();
    }
}

/// How long to wait.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// Until the lock is free.
    Forever,
    /// Not at all.
    Try,
    /// Until the deadline (`None`: forever).
    Until(Option<Deadline>),
}

fn take(mutex: &RobustMutex, wait: Wait) -> Result<Acquired, LockFail> {
    match wait {
        Wait::Forever => mutex.lock(None),
        Wait::Until(d) => mutex.lock(d),
        Wait::Try => mutex.try_lock(),
    }
}

fn fail<G>(f: LockFail) -> TryLockError<G> {
    match f {
        LockFail::WouldBlock => TryLockError::WouldBlock,
        LockFail::TimedOut => TryLockError::Timeout,
        LockFail::NotRecoverable => LockError::NotRecoverable.into(),
        LockFail::WouldDeadlock => LockError::WouldDeadlock.into(),
        LockFail::TooManyHeld => LockError::TooManyHeld.into(),
        LockFail::Unavailable => LockError::Unavailable.into(),
    }
}

/// Takes `mutex`, checks the data with `valid` (inlined: a constant `true` costs nothing), and
/// builds the guard with `make`.
///
/// # Errors
///
/// [`TryLockError::WouldBlock`] and [`TryLockError::Timeout`] as `wait` allows; the
/// [`LockError`]s, [`LockError::OwnerDied`] with the guard.
pub fn acquire<'a, G>(
    mutex: &'a RobustMutex,
    wait: Wait,
    valid: impl FnOnce() -> bool,
    make: impl FnOnce(Held<'a>) -> G,
) -> Result<G, TryLockError<G>> {
    let died = match take(mutex, wait) {
        Ok(Acquired::Clean) => false,
        Ok(Acquired::OwnerDied) => true,
        Err(f) => return Err(fail(f)),
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

/// The blocking form: `Forever` never yields `WouldBlock` or `Timeout`.
///
/// # Errors
///
/// The [`LockError`] inside.
pub fn flatten<G>(r: Result<G, TryLockError<G>>) -> Result<G, LockError<G>> {
    match r {
        Ok(g) => Ok(g),
        Err(TryLockError::Lock(e)) => Err(e),
        Err(TryLockError::WouldBlock | TryLockError::Timeout) => {
            unreachable!("a lock without deadline neither fails to block nor times out")
        }
    }
}

/// The shared words of a re-entrant lock: the robust lock, how many levels its holder has
/// taken, and whether a dead holder's state still awaits repair. Only the holder writes the
/// two counters (and reads them only while holding the lock), so a value another process
/// forged there can confuse the holder's counting but never this process's memory safety.
#[derive(Clone, Copy, Debug)]
pub struct Reentrant<'a> {
    mutex: &'a RobustMutex,
    count: &'a AtomicU32,
    dirty: &'a AtomicU32,
}

impl<'a> Reentrant<'a> {
    /// The lock made of these words.
    pub fn new(mutex: &'a RobustMutex, count: &'a AtomicU32, dirty: &'a AtomicU32) -> Self {
        Reentrant {
            mutex,
            count,
            dirty,
        }
    }

    /// Whether the calling thread holds it.
    pub fn is_owned(&self) -> bool {
        self.mutex.is_held_by_current_thread()
    }

    /// Whether any thread of any process holds it.
    pub fn is_locked(&self) -> bool {
        self.mutex.is_locked()
    }

    /// How many levels the calling thread holds (0 if it is not the holder).
    pub fn level(&self) -> u32 {
        if self.is_owned() {
            self.count.load(Ordering::Relaxed).max(1)
        } else {
            0
        }
    }

    /// Takes one more level and builds its guard with `make`. A lock taken from a dead holder
    /// is [`LockError::OwnerDied`] with the guard: the caller then holds one level, and the
    /// state awaits [`make_consistent`](Self::make_consistent).
    ///
    /// # Errors
    ///
    /// As [`acquire`]; [`LockError::TooManyHeld`] at `u32::MAX` levels.
    pub fn lock<G>(&self, wait: Wait, make: impl FnOnce() -> G) -> Result<G, TryLockError<G>> {
        if self.is_owned() {
            let c = self.count.load(Ordering::Relaxed).max(1);
            if c == u32::MAX {
                return Err(LockError::TooManyHeld.into());
            }
            self.count.store(c + 1, Ordering::Relaxed);
            return Ok(make());
        }
        let died = match take(self.mutex, wait) {
            Ok(Acquired::Clean) => false,
            Ok(Acquired::OwnerDied) => true,
            Err(f) => return Err(fail(f)),
        };
        self.count.store(1, Ordering::Relaxed);
        self.dirty.store(u32::from(died), Ordering::Relaxed);
        if died {
            Err(LockError::OwnerDied(make()).into())
        } else {
            Ok(make())
        }
    }

    /// Releases one level; the last one unlocks (not recoverable if a dead holder's state was
    /// never declared consistent). `false` if the calling thread does not hold the lock.
    pub fn unlock(&self) -> bool {
        if !self.is_owned() {
            return false;
        }
        let c = self.count.load(Ordering::Relaxed);
        if c > 1 {
            self.count.store(c - 1, Ordering::Relaxed);
        } else {
            self.unlock_all();
        }
        true
    }

    fn unlock_all(&self) {
        self.count.store(0, Ordering::Relaxed);
        if self.dirty.load(Ordering::Relaxed) != 0 {
            self.mutex.unlock_not_recoverable();
        } else {
            self.mutex.unlock();
        }
    }

    /// After an owner death: declares the state consistent. `false` if the calling thread
    /// does not hold the lock.
    pub fn make_consistent(&self) -> bool {
        if !self.is_owned() {
            return false;
        }
        self.dirty.store(0, Ordering::Relaxed);
        true
    }

    /// Whether releasing leaves the lock usable (`true` when not held by this thread).
    pub fn is_consistent(&self) -> bool {
        !self.is_owned() || self.dirty.load(Ordering::Relaxed) == 0
    }
}

/// What a condition variable does with a guard's lock while it waits.
pub trait Relock {
    /// Whether the calling thread holds the lock through this guard.
    fn is_held(&self) -> bool;

    /// Releases the lock as dropping the guard would (every level of a re-entrant lock) and
    /// returns what [`relock_after_wait`](Relock::relock_after_wait) restores.
    ///
    /// # Safety
    ///
    /// Until `relock_after_wait` returns `Ok`, the guard must not give access to the data it
    /// protects: nobody may dereference it.
    unsafe fn release_for_wait(&mut self) -> u32;

    /// Takes the lock back, blocking, and restores `saved`. `Ok(true)`: taken from a dead
    /// holder (the guard is then as after [`LockError::OwnerDied`]). On error the guard owns
    /// nothing and dropping it does nothing.
    ///
    /// # Errors
    ///
    /// The failures of a blocking lock ([`LockError::NotRecoverable`], …).
    ///
    /// # Safety
    ///
    /// Only after `release_for_wait`.
    unsafe fn relock_after_wait(&mut self, saved: u32) -> Result<bool, LockError<()>>;

    /// After a successful relock whose data failed its check: releases the lock as it was
    /// found (`died`: flagged owner-died again); the guard then owns nothing.
    ///
    /// # Safety
    ///
    /// Only right after `relock_after_wait` returned `Ok(died)`.
    unsafe fn give_back(&mut self, died: bool);
}

impl Relock for Held<'_> {
    fn is_held(&self) -> bool {
        self.release != Release::Nothing && self.mutex.is_held_by_current_thread()
    }

    unsafe fn release_for_wait(&mut self) -> u32 {
        self.release_now();
        0
    }

    unsafe fn relock_after_wait(&mut self, _saved: u32) -> Result<bool, LockError<()>> {
        match self.mutex.lock(None) {
            Ok(a) => {
                let died = a == Acquired::OwnerDied;
                self.release = if died {
                    Release::NotRecoverable
                } else {
                    Release::Consistent
                };
                Ok(died)
            }
            Err(f) => match fail::<()>(f) {
                TryLockError::Lock(e) => Err(e),
                // A blocking lock neither fails to block nor times out.
                _ => Err(LockError::NotRecoverable),
            },
        }
    }

    unsafe fn give_back(&mut self, died: bool) {
        self.set_release(if died {
            Release::StillOwnerDied
        } else {
            Release::Consistent
        });
        self.release_now();
    }
}

impl Held<'_> {
    /// What a condition wait needs of this lock: the lock itself, and `check` for the data
    /// it protects.
    pub fn for_wait<'r>(&'r mut self, check: Option<&'r dyn Validate>) -> RelockHandle<'r> {
        RelockHandle { lock: self, check }
    }
}

impl Relock for Reentrant<'_> {
    fn is_held(&self) -> bool {
        self.is_owned()
    }

    unsafe fn release_for_wait(&mut self) -> u32 {
        let saved = self.count.load(Ordering::Relaxed).max(1);
        self.unlock_all();
        saved
    }

    unsafe fn relock_after_wait(&mut self, saved: u32) -> Result<bool, LockError<()>> {
        let died = match flatten(self.lock(Wait::Forever, || ())) {
            Ok(()) => false,
            Err(LockError::OwnerDied(())) => true,
            Err(e) => return Err(e),
        };
        self.count.store(saved.max(1), Ordering::Relaxed);
        Ok(died)
    }

    unsafe fn give_back(&mut self, died: bool) {
        if self.is_owned() {
            self.count.store(0, Ordering::Relaxed);
            if died {
                self.mutex.unlock_still_owner_died();
            } else {
                self.mutex.unlock();
            }
        }
    }
}

impl Reentrant<'_> {
    /// What a condition wait needs of this lock (it protects no data: nothing to check).
    pub fn for_wait(&mut self) -> RelockHandle<'_> {
        RelockHandle {
            lock: self,
            check: None,
        }
    }
}

/// A guard's lock and the check of its data, as [`ConditionGuard::relock`] hands them to the
/// condition wait. Made only from a guard's own lock ([`Held::for_wait`],
/// [`Reentrant::for_wait`]), so the check cannot be swapped for another.
pub struct RelockHandle<'r> {
    lock: &'r mut dyn Relock,
    check: Option<&'r dyn Validate>,
}

impl fmt::Debug for RelockHandle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelockHandle").finish_non_exhaustive()
    }
}

/// Proof that the caller is [`CondWords::wait`]: only this module can make one, so only the
/// condition wait can reach a guard's lock through [`ConditionGuard::relock`].
#[derive(Debug)]
pub struct WaitToken(());

/// A guard a [`Condition`](https://docs.rs/multiproc-sync) can wait with: the guards of
/// `multiproc-sync`'s `Lock` and `RLock`, and of `multiproc-shm`'s `Value` and `Array`.
///
/// Its method is the plumbing of `Condition::wait`, callable only from there (it takes a
/// [`WaitToken`]); there is nothing to call on it directly.
pub trait ConditionGuard: Sized {
    /// The lock the guard holds.
    #[doc(hidden)]
    fn relock(&mut self, token: WaitToken) -> RelockHandle<'_>;
}

/// The two words of a condition variable: a sequence number that every notify changes (the
/// futex), and how many waiters may sleep on it (so a notify without waiters makes no
/// syscall; a waiter that died leaves it too high, which only costs that syscall).
#[derive(Clone, Copy, Debug)]
pub struct CondWords<'a> {
    /// Changed by every notify.
    pub seq: &'a AtomicU32,
    /// Waiters between registering and leaving.
    pub waiters: &'a AtomicU32,
}

impl CondWords<'_> {
    /// Wakes up to `n` sleeping waiters; waiters that have released the lock but not yet gone
    /// to sleep return as well.
    pub fn notify(&self, n: u32) {
        if n == 0 {
            return;
        }
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(self.seq, n);
        }
    }

    /// Releases `guard`'s lock, waits for a notify until `deadline`, and takes the lock back
    /// (also after a timeout). `Ok((guard, true))` when notified, `false` on timeout.
    ///
    /// No notify that happens after the lock was released is missed: the sequence number is
    /// read while the lock is still held. Interrupting signals neither shorten nor lengthen
    /// the wait.
    ///
    /// # Errors
    ///
    /// [`LockError::NotOwner`] if the guard's lock was already released; the errors of taking
    /// the lock back, [`LockError::OwnerDied`] with the guard.
    pub fn wait<G: ConditionGuard>(
        &self,
        mut guard: G,
        deadline: Option<Deadline>,
    ) -> Result<(G, bool), LockError<G>> {
        if !guard.relock(WaitToken(())).lock.is_held() {
            return Err(LockError::NotOwner);
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let seq0 = self.seq.load(Ordering::SeqCst);
        // SAFETY: `guard` is owned here and not dereferenced until the lock is taken back.
        let saved = unsafe { guard.relock(WaitToken(())).lock.release_for_wait() };
        let changed = || self.seq.load(Ordering::Acquire) != seq0;
        let mut notified = futex::spin_until(changed);
        while !notified {
            if deadline.is_some_and(Deadline::has_passed) {
                break;
            }
            match futex::wait(self.seq, seq0, deadline) {
                // A notify meant for others may have changed the number meanwhile: this
                // waiter was not woken, so it timed out (as Python's `wait` reports).
                futex::Wait::TimedOut => break,
                futex::Wait::Woken => notified = changed(),
            }
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        let relocked = {
            let h = guard.relock(WaitToken(()));
            // SAFETY: released just above; the check runs with the lock held, before anyone
            // can dereference the guard, and a failed check releases it again at once.
            unsafe {
                h.lock.relock_after_wait(saved).and_then(|died| {
                    if h.check.is_none_or(Validate::is_valid) {
                        Ok(died)
                    } else {
                        h.lock.give_back(died);
                        Err(LockError::Corrupted)
                    }
                })
            }
        };
        match relocked {
            Ok(died) => {
                if died {
                    Err(LockError::OwnerDied(guard))
                } else {
                    Ok((guard, notified))
                }
            }
            Err(e) => Err(match e {
                // Reported as `Ok(true)` above, never as an error.
                LockError::OwnerDied(()) => LockError::NotRecoverable,
                LockError::NotRecoverable => LockError::NotRecoverable,
                LockError::WouldDeadlock => LockError::WouldDeadlock,
                LockError::Corrupted => LockError::Corrupted,
                LockError::TooManyHeld => LockError::TooManyHeld,
                LockError::Unavailable => LockError::Unavailable,
                LockError::NotOwner => LockError::NotOwner,
            }),
        }
    }
}
