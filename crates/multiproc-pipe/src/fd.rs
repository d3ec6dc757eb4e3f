//! A plain file descriptor inside a typed message.

use multiproc_internal::transfer::Transfer;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

/// A file descriptor that can travel inside a typed message: a file, a socket, a pipe, an
/// eventfd — anything the kernel can pass (`SCM_RIGHTS`).
///
/// The receiver gets its own fd for the same open file (shared offset and status flags, as
/// after `dup`); the sender's stays open. Python's `multiprocessing.reduction.DupFd` /
/// `send_handle`.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use multiproc_pipe::{pipe, Fd};
/// use std::io::{Read, Write};
/// let (mut a, mut b) = pipe()?;
/// let (mut reader, writer) = std::io::pipe()?;
/// a.send(&("log", Fd::from(writer)))?; // the receiver gets its own copy of the fd
/// let (name, fd): (String, Fd) = b.recv()?;
/// std::fs::File::from(fd.into_inner()).write_all(b"through the handed fd")?;
/// let mut got = String::new();
/// reader.read_to_string(&mut got)?; // every copy of the writer is closed by now
/// assert_eq!((name.as_str(), got.as_str()), ("log", "through the handed fd"));
/// # Ok(()) }
/// ```
pub struct Fd(OwnedFd);

impl Fd {
    /// Wraps an owned fd.
    pub fn new(fd: impl Into<OwnedFd>) -> Fd {
        Fd(fd.into())
    }

    /// The fd, to turn into a `File`, a `UnixStream`, …
    pub fn into_inner(self) -> OwnedFd {
        self.0
    }
}

impl<T: Into<OwnedFd>> From<T> for Fd {
    fn from(fd: T) -> Fd {
        Fd(fd.into())
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl IntoRawFd for Fd {
    fn into_raw_fd(self) -> RawFd {
        self.0.into_raw_fd()
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fd").field(&self.0.as_raw_fd()).finish()
    }
}

impl Transfer for Fd {
    const TAG: [u8; 8] = *b"MPFD\0\0\0\0";

    fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.0.as_fd())
    }

    fn from_transfer_fd(fd: OwnedFd) -> io::Result<Fd> {
        Ok(Fd(fd))
    }
}

multiproc_internal::serde_via_transfer!([] Fd);
