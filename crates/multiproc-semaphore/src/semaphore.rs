//! `Semaphore` and `BoundedSemaphore`.

use multiproc_internal::clock::Deadline;
use multiproc_internal::errno::invalid_data;
use multiproc_internal::futex;
use multiproc_internal::object::{Kind, SharedObject};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const KIND: Kind = Kind {
    magic: *b"MPSEMAPH",
    version: 1,
    payload: 64,
    name: "semaphore",
};
/// A bounded semaphore is another kind: it must not be opened as an unbounded one (whose
/// release would pass the bound).
const BOUNDED: Kind = Kind {
    magic: *b"MPBSEMAP",
    ..KIND
};
/// The count (the futex word), the number of sleepers, the bound.
const COUNT: usize = KIND.at(0);
const SLEEPERS: usize = KIND.at(4);
const MAX: usize = KIND.at(8);

/// The largest value a semaphore can hold (POSIX's `SEM_VALUE_MAX` on Linux).
pub const MAX_VALUE: u32 = i32::MAX as u32;

/// Why `release` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A [`BoundedSemaphore`] was released more times than acquired (Python: `ValueError`).
    /// The value did not change.
    OverReleased {
        /// The bound: the initial value.
        max: u32,
    },
    /// The value would exceed [`MAX_VALUE`]. The value did not change.
    Overflow,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::OverReleased { max } => {
                write!(
                    f,
                    "bounded semaphore released too many times (its bound is {max})"
                )
            }
            ReleaseError::Overflow => write!(f, "semaphore value would exceed {MAX_VALUE}"),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// The shared core of both semaphore types.
#[derive(Debug)]
struct Inner {
    obj: SharedObject,
}

impl Inner {
    fn create(kind: &Kind, value: u32, max: u32, name: Option<&str>) -> io::Result<Inner> {
        if value > max || max > MAX_VALUE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "initial value {value} is above the maximum {}",
                    max.min(MAX_VALUE)
                ),
            ));
        }
        // Written before the object is published: an opener never sees a half-made semaphore.
        let obj = SharedObject::create(kind, name, |block| {
            let word = |at| {
                block
                    .atomic_u32(at)
                    .expect("semaphore words are inside the block")
            };
            word(MAX).store(max, Ordering::Relaxed);
            word(COUNT).store(value, Ordering::Relaxed);
        })?;
        Ok(Inner { obj })
    }

    fn checked(obj: SharedObject) -> io::Result<Inner> {
        let inner = Inner { obj };
        let max = inner.max();
        if max > MAX_VALUE || inner.value() > max {
            return Err(invalid_data("semaphore state is out of range"));
        }
        Ok(inner)
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        self.obj
            .block()
            .atomic_u32(offset)
            .expect("semaphore words are inside the block")
    }

    fn value(&self) -> u32 {
        self.word(COUNT).load(Ordering::Acquire)
    }

    fn max(&self) -> u32 {
        self.word(MAX).load(Ordering::Relaxed)
    }

    fn try_acquire(&self) -> bool {
        let count = self.word(COUNT);
        let mut v = count.load(Ordering::Relaxed);
        while v > 0 {
            match count.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => v = actual,
            }
        }
        false
    }

    /// Acquires, waiting until `deadline` (None: forever). Spins briefly, then sleeps.
    fn acquire_until(&self, deadline: Option<Deadline>) -> bool {
        if self.try_acquire() {
            return true;
        }
        let count = self.word(COUNT);
        if futex::spin_until(|| count.load(Ordering::Relaxed) > 0) && self.try_acquire() {
            return true;
        }
        let sleepers = self.word(SLEEPERS);
        loop {
            if self.try_acquire() {
                return true;
            }
            if deadline.is_some_and(Deadline::has_passed) {
                return false;
            }
            // Announce the sleep, then sleep only while the count is still 0: a release in
            // between either sees the sleeper and wakes it, or changes the count so the futex
            // returns at once (both sides use SeqCst).
            sleepers.fetch_add(1, Ordering::SeqCst);
            if count.load(Ordering::SeqCst) == 0 {
                futex::wait(count, 0, deadline);
            }
            sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn release(&self, bounded: bool) -> Result<(), ReleaseError> {
        let count = self.word(COUNT);
        let limit = if bounded { self.max() } else { MAX_VALUE };
        let mut v = count.load(Ordering::Relaxed);
        loop {
            if v >= limit {
                return Err(if bounded {
                    ReleaseError::OverReleased { max: limit }
                } else {
                    ReleaseError::Overflow
                });
            }
            match count.compare_exchange_weak(v, v + 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => v = actual,
            }
        }
        if self.word(SLEEPERS).load(Ordering::SeqCst) > 0 {
            futex::wake(count, 1);
        }
        Ok(())
    }
}

fn open_named(kind: &Kind, name: &str) -> io::Result<Inner> {
    Inner::checked(SharedObject::open(kind, name)?)
}

fn from_fd(kind: &Kind, fd: OwnedFd) -> io::Result<Inner> {
    Inner::checked(SharedObject::from_fd(kind, fd)?)
}

macro_rules! semaphore_type {
    ($name:ident, $bounded:expr, $guard:ident) => {
        impl $name {
            /// Takes one unit, waiting as long as it takes.
            #[doc(alias = "sem_wait")]
            pub fn acquire(&self) {
                self.inner.acquire_until(None);
            }

            /// Takes one unit if one is available now; whether it did.
            #[doc(alias = "sem_trywait")]
            pub fn try_acquire(&self) -> bool {
                self.inner.try_acquire()
            }

            /// Takes one unit, waiting at most `timeout` (monotonic clock); whether it did.
            /// Returns no earlier than `timeout` when it fails.
            #[doc(alias = "sem_timedwait")]
            pub fn acquire_timeout(&self, timeout: Duration) -> bool {
                self.inner.acquire_until(Deadline::after(timeout))
            }

            /// Takes one unit, waiting until `deadline` at the latest; whether it did.
            pub fn acquire_deadline(&self, deadline: Instant) -> bool {
                self.inner.acquire_until(Deadline::from_instant(deadline))
            }

            /// Takes one unit and returns a guard that gives it back when dropped.
            pub fn access(&self) -> $guard<'_> {
                self.acquire();
                $guard { sem: self }
            }

            /// The current value (a snapshot: other processes may change it at once).
            #[doc(alias = "sem_getvalue")]
            pub fn value(&self) -> u32 {
                self.inner.value()
            }

            /// The name of a named semaphore.
            pub fn name(&self) -> Option<&str> {
                self.inner.obj.block().name()
            }

            /// Keeps a named semaphore after its creator's handle is dropped (no unlink on drop).
            pub fn keep(&mut self) {
                self.inner.obj.keep();
            }

            /// Removes a named semaphore's name; existing handles keep working.
            ///
            /// # Errors
            ///
            /// `NotFound` if already unlinked; `InvalidInput` for an anonymous semaphore.
            #[doc(alias = "sem_unlink")]
            pub fn unlink(&mut self) -> io::Result<()> {
                self.inner.obj.unlink()
            }
        }

        impl AsFd for $name {
            /// The fd behind the semaphore: send it to another process and call `from_fd` there.
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.obj.block().fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("value", &self.value())
                    .field("name", &self.name())
                    .finish()
            }
        }

        /// A unit taken from the semaphore, given back when dropped.
        #[must_use = "dropping the guard releases at once"]
        #[derive(Debug)]
        pub struct $guard<'a> {
            sem: &'a $name,
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                // The guard holds a unit it took, so giving it back cannot exceed the bound
                // unless someone else over-released meanwhile; then the unit is dropped.
                let _ = self.sem.inner.release($bounded);
            }
        }
    };
}

/// A counting semaphore shared between processes: Python's `multiprocessing.Semaphore`.
///
/// Share it by creating it before forking, by sending its fd ([`AsFd`],
/// [`Semaphore::from_fd`]), or by name ([`Semaphore::create_named`], [`Semaphore::open`]).
///
/// **A semaphore has no owner.** A process that dies holding units does not give them back,
/// and nobody is told: use [`acquire_timeout`](Semaphore::acquire_timeout) where a peer's death
/// must not stall you (a lock, which has an owner, reports it — see multiproc's `Lock`).
///
/// Waiting spins briefly, then sleeps on a futex: a ping-pong between two running processes
/// measured 0.2–0.7 µs a round trip (the workspace's `docs/benchmarks.md`), and an idle waiter
/// burns no CPU. A waiter killed just after being woken takes that wake-up with it (as with
/// POSIX `sem_post`): the unit stays available and goes to the next acquirer or release.
///
/// # Examples
///
/// ```
/// use multiproc_semaphore::Semaphore;
///
/// # fn main() -> std::io::Result<()> {
/// let slots = Semaphore::new(2)?;
/// let a = slots.access();
/// let b = slots.access();
/// assert!(!slots.try_acquire()); // both units taken
/// drop(a);
/// assert!(slots.try_acquire());
/// # drop(b);
/// # Ok(()) }
/// ```
pub struct Semaphore {
    inner: Inner,
}

semaphore_type!(Semaphore, false, SemaphoreGuard);

impl Semaphore {
    /// A new anonymous semaphore with `value` units (Python's default is 1).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a value above [`MAX_VALUE`]; OS errors creating the memfd.
    pub fn new(value: u32) -> io::Result<Semaphore> {
        Ok(Semaphore {
            inner: Inner::create(&KIND, value, MAX_VALUE, None)?,
        })
    }

    /// A new named semaphore (`/dev/shm/<name>`, `O_EXCL`, mode 0600) that unrelated processes
    /// can [`open`](Semaphore::open). The creator's handle unlinks it when dropped, unless
    /// [`keep`](Semaphore::keep) was called.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name exists; `InvalidInput` for bad names or values.
    pub fn create_named(name: &str, value: u32) -> io::Result<Semaphore> {
        Ok(Semaphore {
            inner: Inner::create(&KIND, value, MAX_VALUE, Some(name))?,
        })
    }

    /// Opens a named semaphore.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is none; `InvalidData` if the name holds something else.
    #[doc(alias = "sem_open")]
    pub fn open(name: &str) -> io::Result<Semaphore> {
        Ok(Semaphore {
            inner: open_named(&KIND, name)?,
        })
    }

    /// Rebuilds a semaphore from an fd received from another process.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the fd is not a sealed multiproc semaphore.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Semaphore> {
        Ok(Semaphore {
            inner: from_fd(&KIND, fd)?,
        })
    }

    /// Gives back one unit, waking one waiter.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Overflow`] past [`MAX_VALUE`].
    #[doc(alias = "sem_post")]
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.inner.release(false)
    }
}

/// A semaphore that refuses to be released past its initial value: Python's
/// `multiprocessing.BoundedSemaphore`. Everything else is as for [`Semaphore`].
///
/// # Examples
///
/// ```
/// use multiproc_semaphore::{BoundedSemaphore, ReleaseError};
///
/// # fn main() -> std::io::Result<()> {
/// let s = BoundedSemaphore::new(1)?;
/// assert_eq!(s.release(), Err(ReleaseError::OverReleased { max: 1 }));
/// s.acquire();
/// assert_eq!(s.release(), Ok(()));
/// # Ok(()) }
/// ```
pub struct BoundedSemaphore {
    inner: Inner,
}

semaphore_type!(BoundedSemaphore, true, BoundedSemaphoreGuard);

impl BoundedSemaphore {
    /// A new anonymous bounded semaphore with `value` units, which is also its bound.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::new`].
    pub fn new(value: u32) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            inner: Inner::create(&BOUNDED, value, value, None)?,
        })
    }

    /// A new named bounded semaphore; see [`Semaphore::create_named`].
    ///
    /// # Errors
    ///
    /// As [`Semaphore::create_named`].
    pub fn create_named(name: &str, value: u32) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            inner: Inner::create(&BOUNDED, value, value, Some(name))?,
        })
    }

    /// Opens a named bounded semaphore.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::open`].
    pub fn open(name: &str) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            inner: open_named(&BOUNDED, name)?,
        })
    }

    /// Rebuilds a bounded semaphore from an fd received from another process.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::from_fd`].
    pub fn from_fd(fd: OwnedFd) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            inner: from_fd(&BOUNDED, fd)?,
        })
    }

    /// Gives back one unit, waking one waiter.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::OverReleased`] if that would exceed the bound; the value is unchanged.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.inner.release(true)
    }

    /// The bound (the initial value).
    pub fn max_value(&self) -> u32 {
        self.inner.max()
    }
}

impl multiproc_internal::transfer::Transfer for Semaphore {
    const TAG: [u8; 8] = *b"MPSEM\0\0\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([] Semaphore);

impl multiproc_internal::transfer::Transfer for BoundedSemaphore {
    const TAG: [u8; 8] = *b"MPBSEM\0\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([] BoundedSemaphore);
