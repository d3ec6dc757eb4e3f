//! errno → [`std::io::Error`], in one place.

use std::io;

/// Types that syscalls return with `-1` meaning failure.
pub trait MinusOne: Copy + PartialEq {
    /// The failure value.
    const MINUS_ONE: Self;
}

macro_rules! minus_one {
    ($($t:ty)*) => { $(impl MinusOne for $t { const MINUS_ONE: Self = -1; })* };
}
minus_one!(i32 i64 isize);

/// Turns a `-1` return into the current `errno` as an [`io::Error`].
///
/// # Errors
///
/// Returns the OS error when `ret` is `-1`.
#[inline]
pub fn cvt<T: MinusOne>(ret: T) -> io::Result<T> {
    if ret == T::MINUS_ONE {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Calls `f` until it does not fail with `EINTR`.
///
/// # Errors
///
/// Returns the OS error of the first attempt that fails with anything but `EINTR`.
#[inline]
pub fn cvt_r<T: MinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// An [`io::Error`] of kind `InvalidInput` with a message.
pub fn invalid_input(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// An [`io::Error`] of kind `InvalidData` with a message: what another process left in shared
/// memory is not what this one expects.
pub fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}
