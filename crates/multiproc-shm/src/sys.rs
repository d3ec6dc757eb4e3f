//! Every `unsafe` of multiproc-shm, each behind the lock or the check that makes it sound:
//! references into shared memory for guards and atomics, the bit-pattern check, and the
//! `unsafe` slice accessors whose contract the caller upholds. Copies and the rest go through
//! the internal block's checked, safe operations.

use crate::array::{ArrayGuard, RawArray};
use crate::atomic::{Atomic, AtomicPrimitive};
use crate::shared_memory::SharedMemory;
use crate::typed::Typed;
use crate::value::ValueGuard;
use bytemuck::CheckedBitPattern;
use std::ops::{Deref, DerefMut};

/// Whether every element of `t` is a valid `T` (always, for types without invalid bit
/// patterns: `is_valid_bit_pattern` is then a constant `true` and the loop compiles away).
/// Called with the lock held.
pub(crate) fn valid<T: CheckedBitPattern>(t: &Typed<T>) -> bool {
    let ptr = t.data_ptr();
    (0..t.len()).all(|i| {
        // SAFETY: element `i < len` is inside the mapping and aligned for T (checked at create
        // and open); `T::Bits` has T's size and alignment and accepts any bits; the lock is
        // held, so cooperating processes do not write meanwhile.
        let bits = unsafe { &*ptr.add(i).cast::<T::Bits>() };
        T::is_valid_bit_pattern(bits)
    })
}

impl<T> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so cooperating processes do not access the value; the
        // bytes were checked to be a valid T when it was taken; aligned and in bounds.
        unsafe { &*self.value.inner.data_ptr() }
    }
}

impl<T> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes this the only reference in this
        // process (guards are not `Send`, and a second lock in this thread is refused).
        unsafe { &mut *self.value.inner.data_ptr() }
    }
}

impl<T> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        let t = &self.array.inner;
        // SAFETY: the lock is held (cooperating processes keep off); every element was checked
        // valid when it was taken; the region holds `len` aligned Ts for the mapping's life.
        unsafe { std::slice::from_raw_parts(t.data_ptr(), t.len()) }
    }
}

impl<T> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        let t = &self.array.inner;
        // SAFETY: as for `deref`; `&mut self` makes this the only reference in this process.
        unsafe { std::slice::from_raw_parts_mut(t.data_ptr(), t.len()) }
    }
}

impl<T: AtomicPrimitive> Deref for Atomic<T> {
    type Target = T::Atomic;
    fn deref(&self) -> &T::Atomic {
        // SAFETY: the data offset is aligned for the atomic and inside the mapping (exactly one
        // element, checked at create and open), which lives as long as `self`; every bit
        // pattern is a valid value of the std integer atomics (the only `AtomicPrimitive`s);
        // concurrent access from other processes is what atomics are for.
        unsafe { &*self.inner.data_ptr() }
    }
}

impl<T: bytemuck::Pod> RawArray<T> {
    /// The elements as a slice, without copying.
    ///
    /// # Safety
    ///
    /// No process may write the array while the slice lives (Rust assumes a `&[T]` does not
    /// change). Arrange that yourself: for instance, the writers finished and signalled it
    /// through a synchronising primitive, or use [`Array`](crate::Array).
    pub unsafe fn as_slice(&self) -> &[T] {
        // SAFETY: in bounds and aligned; the caller guarantees no concurrent writes.
        unsafe { std::slice::from_raw_parts(self.inner.data_ptr(), self.len()) }
    }

    /// The elements as a mutable slice, without copying.
    ///
    /// # Safety
    ///
    /// No other process may read or write the array while the slice lives, and no other
    /// handle in this process may be used to access it.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: in bounds and aligned; the caller guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(self.inner.data_ptr(), self.len()) }
    }
}

impl SharedMemory {
    /// The segment as a byte slice, without copying; empty once closed.
    ///
    /// # Safety
    ///
    /// No process may write the segment while the slice lives (Rust assumes a `&[u8]` does not
    /// change). Arrange it yourself, for example by a protocol in which writers have finished
    /// and said so through a synchronising primitive.
    pub unsafe fn as_slice(&self) -> &[u8] {
        let p = self.as_ptr();
        if p.is_null() {
            return &[];
        }
        // SAFETY: an open segment maps `len` bytes from `as_ptr()`; the caller guarantees no
        // writers.
        unsafe { std::slice::from_raw_parts(p, self.len()) }
    }

    /// The segment as a mutable byte slice, without copying; empty once closed.
    ///
    /// # Safety
    ///
    /// No other process may read or write the segment while the slice lives, and no other
    /// handle in this process may be used to access it.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let p = self.as_ptr();
        if p.is_null() {
            return &mut [];
        }
        // SAFETY: as for `as_slice`; the caller guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(p, self.len()) }
    }
}
