//! Why a send or a receive failed.

use std::fmt;
use std::io;

/// Why a send failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The other end is gone (every handle dropped, or its process died). Nothing is sent any
    /// more on this connection.
    Disconnected,
    /// The message is larger than this connection's
    /// [maximum message size](crate::Connection::max_message_size). Nothing was sent.
    TooLarge {
        /// The message's length in bytes.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// The value could not be serialized (postcard supports neither `skip_serializing_if`,
    /// `flatten` nor `untagged`), or a handle in it could not travel (a connection end sent by
    /// reference instead of with `send_owned`, an end holding unread bytes). Nothing was sent.
    Encode(String),
    /// More fds (handles) in one message than the kernel passes at once. Nothing was sent.
    TooManyFds {
        /// fds in the message.
        count: usize,
        /// The kernel's limit per message (253).
        max: usize,
    },
    /// fds (handles) can only travel over a Unix-domain socket, not TCP. Nothing was sent.
    FdsUnsupported,
    /// The peer broke the rules of the shared-memory transport (its read position in the
    /// shared ring is impossible: a corrupted or hostile peer). The connection is closed.
    Protocol(String),
    /// Another I/O error. If part of the message had gone, the connection is closed: a peer
    /// never sees half a message as a whole one.
    Io(io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected => f.write_str("the other end of the connection is gone"),
            SendError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the maximum of {max}")
            }
            SendError::Encode(e) => write!(f, "cannot serialize the message: {e}"),
            SendError::TooManyFds { count, max } => write!(
                f,
                "{count} fds in one message; the kernel passes at most {max}"
            ),
            SendError::FdsUnsupported => {
                f.write_str("fds can only be sent over a Unix-domain socket, not TCP")
            }
            SendError::Protocol(why) => write!(f, "the peer broke the protocol: {why}"),
            SendError::Io(e) => write!(f, "send failed: {e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SendError> for io::Error {
    fn from(e: SendError) -> io::Error {
        let kind = match &e {
            SendError::Disconnected => io::ErrorKind::BrokenPipe,
            SendError::TooLarge { .. }
            | SendError::Encode(_)
            | SendError::TooManyFds { .. }
            | SendError::FdsUnsupported => io::ErrorKind::InvalidInput,
            SendError::Protocol(_) => io::ErrorKind::InvalidData,
            SendError::Io(e) => e.kind(),
        };
        io::Error::new(kind, e)
    }
}

/// Why a receive failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// The other end is gone and every message it sent has been received (Python's
    /// `EOFError`). A message it had only partly sent when it died is discarded, never
    /// presented as whole.
    Disconnected,
    /// `try_recv`: no whole message has arrived yet.
    Empty,
    /// `recv_timeout`/`recv_deadline`: no whole message arrived in time. Nothing is lost: a
    /// message that had partly arrived is completed by the next receive.
    Timeout,
    /// The peer announced a message larger than this connection's maximum. Nothing was
    /// allocated for it; the connection is closed (its stream cannot be resynchronised).
    TooLarge {
        /// The announced length in bytes.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// The message is not a valid encoding of the type asked for, or a handle in it could not
    /// be rebuilt (another kind of handle, an fd that is not what it claims). The connection
    /// stays usable; fds that came with the message are closed.
    Decode(String),
    /// The peer broke the framing (fds announced that did not come, too many fds sent ahead),
    /// or fds sent with a message were lost on the way (at this process's fd limit). The
    /// connection is closed.
    Protocol(String),
    /// The message decoded as the type asked for, with `extra` bytes left over: most likely
    /// the sender sent another type. The connection stays usable.
    TrailingBytes {
        /// Bytes after the value.
        extra: usize,
    },
    /// `recv_bytes_into`: the buffer is shorter than the message, which is handed back whole
    /// (Python's `BufferTooShort`).
    BufferTooShort(Vec<u8>),
    /// Another I/O error.
    Io(io::Error),
}

impl RecvError {
    /// Whether the connection can never deliver another message.
    pub fn is_disconnected(&self) -> bool {
        matches!(
            self,
            RecvError::Disconnected | RecvError::TooLarge { .. } | RecvError::Protocol(_)
        )
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Disconnected => f.write_str("the other end of the connection is gone"),
            RecvError::Empty => f.write_str("no message has arrived"),
            RecvError::Timeout => f.write_str("timed out waiting for a message"),
            RecvError::TooLarge { len, max } => write!(
                f,
                "the peer announced a message of {len} bytes, over the maximum of {max}; connection closed"
            ),
            RecvError::Decode(e) => write!(f, "cannot decode the message: {e}"),
            RecvError::Protocol(e) => write!(f, "connection closed: {e}"),
            RecvError::TrailingBytes { extra } => {
                write!(f, "{extra} bytes left after decoding the message")
            }
            RecvError::BufferTooShort(m) => write!(
                f,
                "the buffer is too short for a message of {} bytes",
                m.len()
            ),
            RecvError::Io(e) => write!(f, "receive failed: {e}"),
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecvError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RecvError> for io::Error {
    fn from(e: RecvError) -> io::Error {
        let kind = match &e {
            RecvError::Disconnected => io::ErrorKind::UnexpectedEof,
            RecvError::Empty => io::ErrorKind::WouldBlock,
            RecvError::Timeout => io::ErrorKind::TimedOut,
            RecvError::TooLarge { .. }
            | RecvError::Decode(_)
            | RecvError::Protocol(_)
            | RecvError::TrailingBytes { .. }
            | RecvError::BufferTooShort(_) => io::ErrorKind::InvalidData,
            RecvError::Io(e) => e.kind(),
        };
        io::Error::new(kind, e)
    }
}

/// A [`send_owned`](crate::Connection::send_owned) that failed: the value, handed back, and
/// why. If nothing of the message went (the usual case: an encoding error, a peer already
/// gone), the connection ends in it are intact; if part of it went before the failure, the
/// peer may hold them, so they are dead here (they report disconnection).
pub struct NotSent<T> {
    /// The value that was not sent.
    pub value: T,
    /// Why.
    pub error: SendError,
}

impl<T> fmt::Debug for NotSent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotSent")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for NotSent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<T> std::error::Error for NotSent<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<NotSent<T>> for SendError {
    fn from(e: NotSent<T>) -> SendError {
        e.error
    }
}

impl<T> From<NotSent<T>> for io::Error {
    fn from(e: NotSent<T>) -> io::Error {
        e.error.into()
    }
}

/// Why [`Listener::accept`](crate::Listener::accept) or
/// [`Client::connect`](crate::Client::connect) gave no connection.
///
/// A failed `accept` leaves the listener usable: accept again.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The peer speaks the handshake but does not hold the same key (Python's
    /// `AuthenticationError`): its proof did not verify, or it rejected ours.
    AuthenticationFailed,
    /// The peer sent bytes that are not the handshake: most likely it has no key (and sent a
    /// message straight away), or it is another program.
    Protocol,
    /// The handshake did not complete within its timeout: the peer is silent, slow, or has
    /// no key and waits for a message.
    HandshakeTimeout,
    /// `connect`: the connection was not established within the connect timeout.
    ConnectTimeout,
    /// The peer closed the connection during the handshake.
    Disconnected,
    /// Another I/O error (the address does not exist, connection refused, …).
    Io(io::Error),
}

impl ConnectError {
    /// Whether the peer was refused for what it sent ([`AuthenticationFailed`] or
    /// [`Protocol`]), rather than for time or an I/O error.
    ///
    /// [`AuthenticationFailed`]: ConnectError::AuthenticationFailed
    /// [`Protocol`]: ConnectError::Protocol
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            ConnectError::AuthenticationFailed | ConnectError::Protocol
        )
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::AuthenticationFailed => {
                f.write_str("authentication failed: the peer does not hold the same key")
            }
            ConnectError::Protocol => {
                f.write_str("the peer does not speak the authentication handshake")
            }
            ConnectError::HandshakeTimeout => {
                f.write_str("timed out during the authentication handshake")
            }
            ConnectError::ConnectTimeout => f.write_str("timed out connecting"),
            ConnectError::Disconnected => {
                f.write_str("the peer closed the connection during the handshake")
            }
            ConnectError::Io(e) => write!(f, "connection failed: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConnectError> for io::Error {
    /// `AuthenticationFailed` is `PermissionDenied`, `Protocol` `InvalidData`, the timeouts
    /// `TimedOut`, `Disconnected` `ConnectionAborted`; an `Io` error is handed back as it was.
    fn from(e: ConnectError) -> io::Error {
        if let ConnectError::Io(inner) = e {
            return inner;
        }
        let kind = match &e {
            ConnectError::AuthenticationFailed => io::ErrorKind::PermissionDenied,
            ConnectError::Protocol => io::ErrorKind::InvalidData,
            ConnectError::HandshakeTimeout | ConnectError::ConnectTimeout => {
                io::ErrorKind::TimedOut
            }
            ConnectError::Disconnected => io::ErrorKind::ConnectionAborted,
            ConnectError::Io(_) => io::ErrorKind::Other, // returned above
        };
        io::Error::new(kind, e)
    }
}
