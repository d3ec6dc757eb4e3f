//! The public ends: `Connection` (duplex), `Sender` and `Receiver` (simplex), and `wait`.

use crate::channel::{Channel, Wait};
use crate::error::{NotSent, RecvError, SendError};
use crate::link::Link;
use crate::shm::{ShmChannel, DEFAULT_RING_CAPACITY};
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
    ($ty:ident, $tag:expr, sends: $sends:expr, receives: $receives:expr) => {
        impl $ty {
            /// The largest message this end sends or accepts, in bytes (default 1 GiB).
            pub fn max_message_size(&self) -> u64 {
                self.chan.max()
            }

            /// What carries this end's messages: shared memory (what [`pipe`] gives) or a
            /// socket (connections from a [`Listener`](crate::Listener), or forced with
            /// [`PipeBuilder::transport`]).
            pub fn transport(&self) -> Transport {
                self.chan.transport()
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
                self.chan.transfer_fds().map(|(fd, _)| fd)
            }

            fn transfer_extra_fds(&self) -> io::Result<Vec<BorrowedFd<'_>>> {
                self.chan.transfer_fds().map(|(_, extra)| extra)
            }

            fn moved_flag(&self) -> Option<Arc<AtomicBool>> {
                Some(self.chan.moved_flag())
            }

            fn from_transfer_fds(fd: OwnedFd, extra: Vec<OwnedFd>) -> io::Result<Self> {
                if extra.is_empty() {
                    return Self::from_transfer_fd(fd);
                }
                Ok($ty {
                    chan: Link::Shm(ShmChannel::from_fds(fd, extra, $sends, $receives)?),
                })
            }

            fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
                let unix = crate::channel::received_stream_socket(fd.as_fd(), false)?;
                Ok($ty {
                    chan: Link::Socket(Channel::new(fd, unix)),
                })
            }
        }

        multiproc_internal::serde_via_transfer!([] $ty);

        impl AsFd for $ty {
            /// The fd to wait on in an event loop: readable when a message (or the end of the
            /// connection) may be there. After each readiness, receive with `try_recv` until
            /// [`RecvError::Empty`]: messages are read ahead (over a socket) or announced only
            /// to a receiver that said it sleeps (over shared memory, which `Empty` says), so
            /// the fd is not readable while a message waits that an earlier readiness
            /// announced. Do not read or write the fd.
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.chan.fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("transport", &self.chan.transport())
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
    chan: Link,
}

impl Connection {
    send_methods!();
    recv_methods!();

    /// An end over a connected, blocking stream socket: Unix-domain (`unix`) or TCP.
    pub(crate) fn from_socket(fd: std::os::fd::OwnedFd, unix: bool) -> Connection {
        Connection {
            chan: Link::Socket(Channel::new(fd, unix)),
        }
    }
}

common_methods!(Connection, *b"MPCONN\0\0", sends: true, receives: true);

/// The sending end of a simplex pipe ([`pipe_simplex`]): it has no receiving methods.
pub struct Sender {
    chan: Link,
}

impl Sender {
    send_methods!();
}

common_methods!(Sender, *b"MPSEND\0\0", sends: true, receives: false);

/// The receiving end of a simplex pipe ([`pipe_simplex`]): it has no sending methods.
pub struct Receiver {
    chan: Link,
}

impl Receiver {
    recv_methods!();
}

common_methods!(Receiver, *b"MPRECV\0\0", sends: false, receives: true);

/// What carries a pipe's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// A ring per direction in shared memory, with a Unix socket pair beside it for fds,
    /// wake-ups and the end of the peer: a message is copied in and out, and no system call
    /// is made while the receiver is awake. What [`pipe`] and [`pipe_simplex`] use.
    SharedMemory,
    /// A Unix stream socket pair: one system call per message or per batch of small ones.
    /// Fewer fds per end; what connections from a [`Listener`](crate::Listener) use.
    Socket,
}

/// Makes pipes with settings: the transport, the ring size, the message size cap.
///
/// By default the transport is [`Transport::SharedMemory`], falling back to
/// [`Transport::Socket`] where shared memory cannot be made (a kernel or sandbox without
/// `memfd_create`); [`transport`](PipeBuilder::transport) forces one.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use multiproc_pipe::{PipeBuilder, Transport};
/// let (mut a, mut b) = PipeBuilder::new().transport(Transport::Socket).duplex()?;
/// assert_eq!(a.transport(), Transport::Socket);
/// a.send(&1u8)?;
/// assert_eq!(b.recv::<u8>()?, 1);
/// let (mut rx, mut tx) = PipeBuilder::new().ring_capacity(1 << 20).simplex()?;
/// assert_eq!(rx.transport(), Transport::SharedMemory);
/// let receiver = std::thread::spawn(move || rx.recv_bytes());
/// tx.send_bytes(&vec![7; 3 << 20])?; // larger than the ring: it streams through
/// assert_eq!(receiver.join().unwrap()?.len(), 3 << 20);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PipeBuilder {
    transport: Option<Transport>,
    ring_capacity: usize,
    max_message_size: u64,
}

impl Default for PipeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PipeBuilder {
    /// The defaults: shared memory where possible, rings of [`DEFAULT_RING_CAPACITY`], a
    /// message cap of [`DEFAULT_MAX_MESSAGE`](crate::DEFAULT_MAX_MESSAGE).
    pub fn new() -> PipeBuilder {
        PipeBuilder {
            transport: None,
            ring_capacity: DEFAULT_RING_CAPACITY,
            max_message_size: crate::DEFAULT_MAX_MESSAGE,
        }
    }

    /// Uses `transport`, without falling back to the other.
    pub fn transport(mut self, transport: Transport) -> PipeBuilder {
        self.transport = Some(transport);
        self
    }

    /// The size of each shared-memory ring in bytes: a power of two from 4 KiB to 1 GiB
    /// (checked when the pipe is made). Larger messages stream through it; a larger ring lets
    /// a sender run further ahead of its receiver. Pages are committed as they are used.
    pub fn ring_capacity(mut self, bytes: usize) -> PipeBuilder {
        self.ring_capacity = bytes;
        self
    }

    /// The largest message the ends send or accept (see
    /// [`Connection::set_max_message_size`]).
    pub fn max_message_size(mut self, max: u64) -> PipeBuilder {
        self.max_message_size = max;
        self
    }

    /// Makes the two ends with `shm` or `socket`, as the transport setting says.
    fn make(
        &self,
        shm: impl FnOnce(usize) -> io::Result<(ShmChannel, ShmChannel)>,
        socket: impl FnOnce() -> io::Result<(Channel, Channel)>,
    ) -> io::Result<(Link, Link)> {
        let (mut a, mut b) = match self.transport {
            Some(Transport::Socket) => socket().map(|(a, b)| (Link::Socket(a), Link::Socket(b)))?,
            Some(Transport::SharedMemory) => {
                shm(self.ring_capacity).map(|(a, b)| (Link::Shm(a), Link::Shm(b)))?
            }
            None => match shm(self.ring_capacity) {
                Ok((a, b)) => (Link::Shm(a), Link::Shm(b)),
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
                Err(_) => socket().map(|(a, b)| (Link::Socket(a), Link::Socket(b)))?,
            },
        };
        a.set_max(self.max_message_size);
        b.set_max(self.max_message_size);
        Ok((a, b))
    }

    /// A duplex pipe (see [`pipe`]).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad ring capacity; OS errors making the rings or sockets.
    pub fn duplex(&self) -> io::Result<(Connection, Connection)> {
        let (a, b) = self.make(ShmChannel::duplex, || {
            let (a, b) = sys::socketpair()?;
            Ok((Channel::new(a, true), Channel::new(b, true)))
        })?;
        Ok((Connection { chan: a }, Connection { chan: b }))
    }

    /// A simplex pipe: the receiving end and the sending end (see [`pipe_simplex`]).
    ///
    /// # Errors
    ///
    /// As [`duplex`](PipeBuilder::duplex).
    pub fn simplex(&self) -> io::Result<(Receiver, Sender)> {
        let (r, s) = self.make(ShmChannel::simplex, || {
            let (r, s) = sys::socketpair()?;
            // Each direction that is never used is shut: nothing can flow the wrong way.
            sys::shutdown(r.as_fd(), libc::SHUT_WR)?;
            sys::shutdown(s.as_fd(), libc::SHUT_RD)?;
            Ok((Channel::new(r, true), Channel::new(s, true)))
        })?;
        Ok((Receiver { chan: r }, Sender { chan: s }))
    }
}

/// A duplex pipe: two connected ends, each able to send and receive (Python's `Pipe()`).
///
/// Over shared memory ([`Transport::SharedMemory`]; [`PipeBuilder`] makes other kinds).
///
/// # Errors
///
/// OS errors creating the rings or sockets (`EMFILE`, …).
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
    PipeBuilder::new().duplex()
}

/// A simplex pipe: the receiving end and the sending end (Python's `Pipe(duplex=False)`,
/// in the same order). Using an end in the wrong direction does not compile.
///
/// # Errors
///
/// OS errors creating the ring or sockets.
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
    PipeBuilder::new().simplex()
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

    /// Whether something can be received without reading the fd. Called by [`wait`] just
    /// before it sleeps (a shared-memory end says here that it sleeps, so that its peer
    /// wakes it).
    fn has_buffered(&self) -> bool {
        false
    }

    /// Called by [`wait`] once the fd polled readable: whether that means something to
    /// receive (a shared-memory end reads its wake-ups here and looks at its ring). By
    /// default, readable is ready.
    fn settle(&self) -> bool {
        true
    }
}

macro_rules! waitable_end {
    ($($ty:ty),*) => {$(
        impl Waitable for $ty {
            fn wait_fd(&self) -> BorrowedFd<'_> {
                self.chan.fd()
            }

            fn has_buffered(&self) -> bool {
                self.chan.has_buffered()
            }

            fn settle(&self) -> bool {
                self.chan.settle()
            }
        }
    )*};
}

waitable_end!(Connection, Receiver);

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        (**self).wait_fd()
    }

    fn has_buffered(&self) -> bool {
        (**self).has_buffered()
    }

    fn settle(&self) -> bool {
        (**self).settle()
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
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let buffered: Vec<bool> = ends.iter().map(Waitable::has_buffered).collect();
        // Something already there: report it, with whatever else is ready right now.
        let until = if buffered.contains(&true) {
            Some(Instant::now())
        } else {
            deadline
        };
        let readable = sys::poll_readable(&fds, until)?;
        let ready: Vec<usize> = (0..ends.len())
            .filter(|&i| buffered[i] || (readable[i] && ends[i].settle()))
            .collect();
        // Readable with nothing to receive (a stale wake-up, now read): sleep again.
        if !ready.is_empty() || !readable.contains(&true) {
            return Ok(ready);
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Ok(ready);
        }
    }
}
