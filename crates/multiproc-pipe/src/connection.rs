//! The public ends: `Connection` (duplex), `Sender` and `Receiver` (simplex), and `wait`.

use crate::channel::{Channel, Wait};
use crate::error::{NotSent, RecvError, SendError};
use crate::sys;
use multiproc_internal::transfer::Transfer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn until(timeout: Duration) -> Wait {
    Instant::now()
        .checked_add(timeout)
        .map_or(Wait::Forever, Wait::Until)
}

/// The sending methods, shared by [`Connection`] and [`Sender`].
macro_rules! send_methods {
    () => {
        /// Sends `value`, serialized with postcard (Python's `send`). Blocks while the
        /// socket's buffer is full, that is until the peer has received enough.
        ///
        /// # Errors
        ///
        /// [`SendError::Disconnected`] when the other end is gone (never a SIGPIPE);
        /// [`SendError::TooLarge`]; [`SendError::Encode`].
        ///
        /// Shared objects in `value` (a `Value`, a `Lock`, an [`Fd`](crate::Fd), …) travel
        /// as fds beside the bytes and are rebuilt by the receiver: both processes then use
        /// the same object. Connection ends move and go with
        /// [`send_owned`](Self::send_owned).
        pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SendError> {
            self.chan.send_value(value, false)
        }

        /// Sends `value` by value: as [`send`](Self::send), and connection ends in it
        /// ([`Connection`], [`Sender`], [`Receiver`]) may go too. They move: once sent, the
        /// value is dropped here, closing this process's copies, so the receiver holds the
        /// only reader of each stream.
        ///
        /// # Errors
        ///
        /// As [`send`](Self::send), with the value handed back in [`NotSent`]. An end that
        /// holds received bytes not yet read as messages cannot travel
        /// ([`SendError::Encode`]): receive them first.
        ///
        /// # Examples
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use multiproc_pipe::{pipe, Connection};
        /// let (mut control, mut far) = pipe()?;
        /// let (mut mine, theirs) = pipe()?;
        /// control.send_owned(theirs)?; // `theirs` moves to the other side of `control`
        /// let mut theirs: Connection = far.recv()?;
        /// mine.send(&"over the handed end")?;
        /// assert_eq!(theirs.recv::<String>()?, "over the handed end");
        /// # Ok(()) }
        /// ```
        pub fn send_owned<T: Serialize>(&mut self, value: T) -> Result<(), NotSent<T>> {
            match self.chan.send_value(&value, true) {
                Ok(()) => Ok(()),
                Err(error) => Err(NotSent { value, error }),
            }
        }

        /// Sends `bytes` as one message (Python's `send_bytes`). An empty message is a
        /// message.
        ///
        /// # Errors
        ///
        /// As [`send`](Self::send), without `Encode`.
        pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), SendError> {
            self.chan.send_frame(bytes)
        }

        /// Sends `bytes` as one message with `fds` attached (at most 253; the receiver gets
        /// its own copies with [`recv_bytes_with_fds`](Connection::recv_bytes_with_fds)).
        /// Python's `multiprocessing.reduction.send_handle`, for many fds at once.
        ///
        /// # Errors
        ///
        /// As [`send_bytes`](Self::send_bytes); [`SendError::TooManyFds`];
        /// [`SendError::FdsUnsupported`] over TCP.
        pub fn send_bytes_with_fds(
            &mut self,
            bytes: &[u8],
            fds: &[BorrowedFd<'_>],
        ) -> Result<(), SendError> {
            let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
            self.chan.send_frame_fds(bytes, &raw)
        }
    };
}

/// The receiving methods, shared by [`Connection`] and [`Receiver`].
macro_rules! recv_methods {
    () => {
        /// Receives a message sent with `send` as a `T` (Python's `recv`), blocking until one
        /// arrives.
        ///
        /// # Errors
        ///
        /// [`RecvError::Disconnected`] once the other end is gone and everything it sent was
        /// received; [`RecvError::Decode`] or [`RecvError::TrailingBytes`] if the message is
        /// not a `T` (the connection stays usable); [`RecvError::TooLarge`].
        pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, RecvError> {
            self.chan.recv_value(Wait::Forever)
        }

        /// Receives a `T` if a whole message has arrived, without waiting.
        ///
        /// # Errors
        ///
        /// [`RecvError::Empty`]; otherwise as [`recv`](Self::recv).
        pub fn try_recv<T: DeserializeOwned>(&mut self) -> Result<T, RecvError> {
            self.chan.recv_value(Wait::Try)
        }

        /// Receives a `T`, waiting at most `timeout` (monotonic clock).
        ///
        /// # Errors
        ///
        /// [`RecvError::Timeout`] (a message that had partly arrived is kept for the next
        /// receive); otherwise as [`recv`](Self::recv).
        pub fn recv_timeout<T: DeserializeOwned>(
            &mut self,
            timeout: Duration,
        ) -> Result<T, RecvError> {
            self.chan.recv_value(until(timeout))
        }

        /// Receives a `T`, waiting until `deadline` at the latest.
        ///
        /// # Errors
        ///
        /// As [`recv_timeout`](Self::recv_timeout).
        pub fn recv_deadline<T: DeserializeOwned>(
            &mut self,
            deadline: Instant,
        ) -> Result<T, RecvError> {
            self.chan.recv_value(Wait::Until(deadline))
        }

        /// Receives one message's bytes (Python's `recv_bytes`), blocking until one arrives.
        ///
        /// # Errors
        ///
        /// [`RecvError::Disconnected`], [`RecvError::TooLarge`], I/O errors.
        ///
        /// fds that came with the message are closed; receive them with
        /// [`recv_bytes_with_fds`](Self::recv_bytes_with_fds).
        pub fn recv_bytes(&mut self) -> Result<Vec<u8>, RecvError> {
            self.chan.recv_frame(Wait::Forever)
        }

        /// Receives one message's bytes and the fds that came with it (owned, close-on-exec),
        /// blocking until one arrives. Python's `multiprocessing.reduction.recv_handle`.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes`](Self::recv_bytes); [`RecvError::Protocol`] if fds announced by
        /// the peer did not come (the connection is then closed).
        pub fn recv_bytes_with_fds(&mut self) -> Result<(Vec<u8>, Vec<OwnedFd>), RecvError> {
            self.chan.recv_frame_fds(Wait::Forever)
        }

        /// As [`recv_bytes_with_fds`](Self::recv_bytes_with_fds), waiting at most `timeout`.
        ///
        /// # Errors
        ///
        /// [`RecvError::Timeout`]; otherwise as
        /// [`recv_bytes_with_fds`](Self::recv_bytes_with_fds).
        pub fn recv_bytes_with_fds_timeout(
            &mut self,
            timeout: Duration,
        ) -> Result<(Vec<u8>, Vec<OwnedFd>), RecvError> {
            self.chan.recv_frame_fds(until(timeout))
        }

        /// Receives one message's bytes if a whole message has arrived, without waiting.
        ///
        /// # Errors
        ///
        /// [`RecvError::Empty`]; otherwise as [`recv_bytes`](Self::recv_bytes).
        pub fn try_recv_bytes(&mut self) -> Result<Vec<u8>, RecvError> {
            self.chan.recv_frame(Wait::Try)
        }

        /// Receives one message's bytes, waiting at most `timeout`.
        ///
        /// # Errors
        ///
        /// [`RecvError::Timeout`]; otherwise as [`recv_bytes`](Self::recv_bytes).
        pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvError> {
            self.chan.recv_frame(until(timeout))
        }

        /// Receives one message's bytes, waiting until `deadline` at the latest.
        ///
        /// # Errors
        ///
        /// [`RecvError::Timeout`]; otherwise as [`recv_bytes`](Self::recv_bytes).
        pub fn recv_bytes_deadline(&mut self, deadline: Instant) -> Result<Vec<u8>, RecvError> {
            self.chan.recv_frame(Wait::Until(deadline))
        }

        /// Receives one message into `buf` and returns its length (Python's
        /// `recv_bytes_into`), blocking until one arrives.
        ///
        /// # Errors
        ///
        /// [`RecvError::BufferTooShort`] with the whole message if it does not fit;
        /// otherwise as [`recv_bytes`](Self::recv_bytes).
        pub fn recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
            self.chan.recv_into(buf, Wait::Forever)
        }

        /// Whether something can be received within `timeout` (Python's `poll(timeout)`):
        /// bytes of a message, or the end of the connection (then a receive reports
        /// [`RecvError::Disconnected`] at once). `Duration::ZERO` only looks.
        ///
        /// # Errors
        ///
        /// I/O errors of `poll(2)`.
        pub fn poll(&self, timeout: Duration) -> io::Result<bool> {
            self.chan.poll(Instant::now().checked_add(timeout))
        }
    };
}

/// Settings shared by every end.
macro_rules! common_methods {
    ($ty:ident, $tag:expr) => {
        impl $ty {
            /// The largest message this end sends or accepts, in bytes (default 1 GiB).
            pub fn max_message_size(&self) -> u64 {
                self.chan.max()
            }

            /// Sets the largest message this end sends or accepts. A peer announcing a larger
            /// one gets this end closed, before anything is allocated for it. Above 4 GiB is
            /// fine.
            pub fn set_max_message_size(&mut self, max: u64) {
                self.chan.set_max(max);
            }
        }

        impl Transfer for $ty {
            const TAG: [u8; 8] = $tag;
            const MOVES: bool = true;

            fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
                self.chan.check_transfer()?;
                Ok(self.chan.fd())
            }

            fn moved_flag(&self) -> Option<Arc<AtomicBool>> {
                Some(self.chan.moved_flag())
            }

            fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
                let kind = sys::socket_kind(fd.as_fd())?;
                let unix = kind.domain == libc::AF_UNIX;
                if kind.ty != libc::SOCK_STREAM
                    || kind.listening
                    || !(unix || kind.domain == libc::AF_INET || kind.domain == libc::AF_INET6)
                {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "not the connected stream socket of a connection",
                    ));
                }
                // Options the peer may have set that would change how we read.
                sys::reset_receive_options(fd.as_fd())?;
                Ok($ty {
                    chan: Channel::new(fd, unix),
                })
            }
        }

        multiproc_internal::serde_via_transfer!([] $ty);

        impl AsFd for $ty {
            /// The socket, to wait on in an event loop (readable: bytes or the end of the
            /// connection are there). Messages are read ahead, so after a readiness receive
            /// with `try_recv` until [`RecvError::Empty`]: a message may be waiting in this
            /// end's buffer while the socket is not readable. Do not read or write the socket.
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.chan.fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.chan.fd())
                    .field("max_message_size", &self.chan.max())
                    .finish()
            }
        }
    };
}

/// One end of a duplex pipe: Python's `multiprocessing.connection.Connection`.
///
/// Messages keep their boundaries; typed ones are serialized with postcard. Created by
/// [`pipe`]; shared with a child by creating the pipe before forking (each side then keeps
/// one end and drops the other).
///
/// Sending and receiving take `&mut self`: one thread uses an end at a time.
pub struct Connection {
    chan: Channel,
}

impl Connection {
    send_methods!();
    recv_methods!();

    /// An end over a connected, blocking stream socket: Unix-domain (`unix`) or TCP.
    pub(crate) fn from_socket(fd: std::os::fd::OwnedFd, unix: bool) -> Connection {
        Connection {
            chan: Channel::new(fd, unix),
        }
    }
}

common_methods!(Connection, *b"MPCONN\0\0");

/// The sending end of a simplex pipe ([`pipe_simplex`]): it has no receiving methods.
pub struct Sender {
    chan: Channel,
}

impl Sender {
    send_methods!();
}

common_methods!(Sender, *b"MPSEND\0\0");

/// The receiving end of a simplex pipe ([`pipe_simplex`]): it has no sending methods.
pub struct Receiver {
    chan: Channel,
}

impl Receiver {
    recv_methods!();
}

common_methods!(Receiver, *b"MPRECV\0\0");

/// A duplex pipe: two connected ends, each able to send and receive (Python's `Pipe()`).
///
/// # Errors
///
/// OS errors creating the socket pair (`EMFILE`, …).
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let (mut a, mut b) = multiproc_pipe::pipe()?;
/// a.send(&("hello", 42u32))?;
/// let (word, n): (String, u32) = b.recv()?;
/// assert_eq!((word.as_str(), n), ("hello", 42));
/// b.send_bytes(b"")?; // an empty message is a message
/// assert_eq!(a.recv_bytes()?, b"");
/// # Ok(()) }
/// ```
pub fn pipe() -> io::Result<(Connection, Connection)> {
    let (a, b) = sys::socketpair()?;
    Ok((
        Connection {
            chan: Channel::new(a, true),
        },
        Connection {
            chan: Channel::new(b, true),
        },
    ))
}

/// A simplex pipe: the receiving end and the sending end (Python's `Pipe(duplex=False)`,
/// in the same order). Using an end in the wrong direction does not compile.
///
/// # Errors
///
/// OS errors creating the socket pair.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let (mut rx, mut tx) = multiproc_pipe::pipe_simplex()?;
/// tx.send(&[1u8, 2, 3])?;
/// assert_eq!(rx.recv::<[u8; 3]>()?, [1, 2, 3]);
/// # Ok(()) }
/// ```
pub fn pipe_simplex() -> io::Result<(Receiver, Sender)> {
    let (r, s) = sys::socketpair()?;
    // Each direction that is never used is shut: nothing can flow the wrong way.
    sys::shutdown(r.as_fd(), libc::SHUT_WR)?;
    sys::shutdown(s.as_fd(), libc::SHUT_RD)?;
    Ok((
        Receiver {
            chan: Channel::new(r, true),
        },
        Sender {
            chan: Channel::new(s, true),
        },
    ))
}

/// Something [`wait`] can wait on: an end of this crate, or any socket or fd.
///
/// An end reads ahead (many small messages per syscall), so a message can be waiting in its
/// buffer while its socket is not readable: `wait` knows to look there; an event loop watching
/// the fd ([`AsFd`]) must drain an end with `try_recv` until [`RecvError::Empty`] after each
/// readiness.
pub trait Waitable {
    /// The fd to poll.
    fn wait_fd(&self) -> BorrowedFd<'_>;

    /// Whether something can be received without reading the fd.
    fn has_buffered(&self) -> bool {
        false
    }
}

impl Waitable for Connection {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.chan.fd()
    }

    fn has_buffered(&self) -> bool {
        self.chan.has_buffered()
    }
}

impl Waitable for Receiver {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.chan.fd()
    }

    fn has_buffered(&self) -> bool {
        self.chan.has_buffered()
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        (**self).wait_fd()
    }

    fn has_buffered(&self) -> bool {
        (**self).has_buffered()
    }
}

macro_rules! waitable_fd {
    ($($ty:ty),*) => {$(
        impl Waitable for $ty {
            fn wait_fd(&self) -> BorrowedFd<'_> {
                self.as_fd()
            }
        }
    )*};
}

waitable_fd!(
    std::os::fd::OwnedFd,
    BorrowedFd<'_>,
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixDatagram,
    std::net::TcpStream,
    std::net::UdpSocket,
    std::process::ChildStdout,
    std::process::ChildStderr,
    std::io::PipeReader
);

/// Waits until at least one of `ends` has something to receive (a message's bytes, or the end
/// of its connection), or until `timeout` (`None`: forever); returns the indices of the ready
/// ones, in order (empty on timeout). Python's `multiprocessing.connection.wait`.
///
/// [`Connection`]s, [`Receiver`]s, sockets and other fds can be waited on ([`Waitable`]).
///
/// # Errors
///
/// I/O errors of `poll(2)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # fn main() -> std::io::Result<()> {
/// let (mut a, b) = multiproc_pipe::pipe()?;
/// let (mut c, d) = multiproc_pipe::pipe()?;
/// a.send_bytes(b"x")?;
/// assert_eq!(multiproc_pipe::wait(&[&b, &d], Some(Duration::from_secs(1)))?, [0]);
/// # drop(c.send_bytes(b"")); Ok(()) }
/// ```
pub fn wait<T: Waitable>(ends: &[T], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    let fds: Vec<BorrowedFd<'_>> = ends.iter().map(Waitable::wait_fd).collect();
    // Something already read ahead: report it, with whatever else is ready right now.
    let deadline = if ends.iter().any(Waitable::has_buffered) {
        Some(Instant::now())
    } else {
        timeout.and_then(|t| Instant::now().checked_add(t))
    };
    let ready = sys::poll_readable(&fds, deadline)?;
    Ok(ready
        .iter()
        .zip(ends)
        .enumerate()
        .filter_map(|(i, (&r, e))| (r || e.has_buffered()).then_some(i))
        .collect())
}
