//! `Atomic<T>`: a lock-free integer in shared memory.

use crate::typed::{Kind, Typed};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU64,
    AtomicU8, AtomicUsize, Ordering,
};

const ATOMIC: Kind = Kind {
    magic: *b"MPATOMIC",
    name: "atomic",
    locked: false,
    data_min: 64,
};

mod sealed {
    pub trait Sealed {}
}

/// The types [`Atomic`] holds, with their `std` atomic counterparts. Sealed.
pub trait AtomicPrimitive: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The `std::sync::atomic` type.
    type Atomic: Send + Sync + fmt::Debug;
    #[doc(hidden)]
    fn store(atomic: &Self::Atomic, value: Self);
}

macro_rules! atomic_primitive {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl AtomicPrimitive for $t {
            type Atomic = $a;
            fn store(atomic: &$a, value: $t) {
                atomic.store(value, Ordering::SeqCst);
            }
        }
    )*};
}

// No `bool`: std documents `AtomicBool` as having `bool`'s bit validity, so a byte other than
// 0 or 1 written by another process would make reading it undefined. Use `Atomic<u8>`.
atomic_primitive! {
    u8 => AtomicU8, i8 => AtomicI8,
    u16 => AtomicU16, i16 => AtomicI16,
    u32 => AtomicU32, i32 => AtomicI32,
    u64 => AtomicU64, i64 => AtomicI64,
    usize => AtomicUsize, isize => AtomicIsize,
}

/// An integer in shared memory, for lock-free operations across processes.
///
/// It dereferences to the matching `std` atomic (`AtomicU64` for `Atomic<u64>`, …), so the whole
/// `std` API is there: `fetch_add`, `compare_exchange`, `fetch_update`, with the memory ordering
/// you choose. The atomic lives in its own memfd; share it by forking after creating it, or by
/// sending its fd ([`Atomic::from_fd`]).
///
/// Every bit pattern is a valid integer, so nothing another process writes can make a load
/// undefined. There is no `Atomic<bool>` for that reason (`AtomicBool` must hold 0 or 1): use
/// `Atomic<u8>` as a flag.
///
/// # Examples
///
/// ```
/// use multiproc_shm::Atomic;
/// use std::sync::atomic::Ordering;
///
/// # fn main() -> std::io::Result<()> {
/// let hits = Atomic::new(0u64)?;
/// hits.fetch_add(5, Ordering::Relaxed);
/// assert_eq!(hits.compare_exchange(5, 6, Ordering::AcqRel, Ordering::Acquire), Ok(5));
/// assert_eq!(hits.load(Ordering::Acquire), 6);
/// # Ok(()) }
/// ```
pub struct Atomic<T: AtomicPrimitive> {
    pub(crate) inner: Typed<T::Atomic>,
}

impl<T: AtomicPrimitive> Atomic<T> {
    /// A new shared atomic holding `value`.
    ///
    /// # Errors
    ///
    /// OS errors creating the memfd or mapping.
    pub fn new(value: T) -> io::Result<Self> {
        let a = Atomic {
            inner: Typed::create(&ATOMIC, 1)?,
        };
        T::store(&a, value);
        Ok(a)
    }

    /// Rebuilds an atomic from an fd received from another process.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the fd is not a multiproc `Atomic` of `T`'s size, or not sealed.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        Ok(Atomic {
            inner: Typed::from_fd(&ATOMIC, fd, Some(1))?,
        })
    }
}

impl<T: AtomicPrimitive> AsFd for Atomic<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.block().fd()
    }
}

impl<T: AtomicPrimitive> fmt::Debug for Atomic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Atomic").field(&**self).finish()
    }
}

impl<T: AtomicPrimitive> multiproc_internal::transfer::Transfer for Atomic<T> {
    const TAG: [u8; 8] = *b"MPATOMIC";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: AtomicPrimitive] Atomic<T>);
