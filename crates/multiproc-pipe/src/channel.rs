//! One end of a socket with message framing: an 8-byte little-endian length, then the bytes.
//! What every public end type is made of.

use crate::error::{RecvError, SendError};
use crate::sys;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

/// The default maximum message size: 1 GiB.
pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 30;

/// Buffers kept between messages for reuse are trimmed to this.
const KEEP_CAPACITY: usize = 1 << 20;
/// The first allocation for a message body; later ones double with what has arrived, so
/// memory follows the bytes the peer really sent, never just its announcement.
const FIRST_CHUNK: usize = 64 << 10;

const HEADER: usize = 8;

/// How long a receive may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    Forever,
    Try,
    Until(Instant),
}

/// A message that has partly arrived: kept across a timed-out receive.
#[derive(Debug, Default)]
struct Partial {
    head: [u8; HEADER],
    head_got: usize,
    /// `Some` once the header is complete.
    body: Option<Vec<u8>>,
    len: usize,
}

#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
    max: u64,
    rx: Partial,
    /// Reused: the last received message's buffer, and the encoding buffer.
    spare: Vec<u8>,
    tx: Vec<u8>,
    /// A framing error or a half-sent message: nothing more can be exchanged.
    broken: bool,
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ESHUTDOWN)
    )
}

impl Channel {
    pub(crate) fn new(fd: OwnedFd) -> Channel {
        Channel {
            fd,
            max: DEFAULT_MAX_MESSAGE,
            rx: Partial::default(),
            spare: Vec::new(),
            tx: Vec::new(),
            broken: false,
        }
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: u64) {
        self.max = max;
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Closes both directions for good (the peer sees end of stream).
    fn break_off(&mut self) {
        self.broken = true;
        self.rx = Partial::default();
        let _ = sys::shutdown(self.fd.as_fd(), libc::SHUT_RDWR);
    }

    pub(crate) fn send_frame(&mut self, payload: &[u8]) -> Result<(), SendError> {
        let len = payload.len() as u64;
        if len > self.max {
            return Err(SendError::TooLarge { len, max: self.max });
        }
        if self.broken {
            return Err(SendError::Disconnected);
        }
        let head = len.to_le_bytes();
        let total = HEADER + payload.len();
        let mut sent = 0;
        while sent < total {
            let r = if sent < HEADER {
                sys::send_vectored(self.fd.as_fd(), &[&head[sent..], payload])
            } else {
                sys::send_vectored(self.fd.as_fd(), &[&payload[sent - HEADER..]])
            };
            match r {
                Ok(n) => sent += n,
                Err(e) => {
                    if sent > 0 {
                        // The peer would see half a message: close instead.
                        self.break_off();
                    }
                    return Err(if is_disconnect(&e) {
                        SendError::Disconnected
                    } else {
                        SendError::Io(e)
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn send_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SendError> {
        let mut buf = std::mem::take(&mut self.tx);
        buf.clear();
        let buf = postcard::to_extend(value, buf).map_err(|e| SendError::Encode(e.to_string()))?;
        let r = self.send_frame(&buf);
        self.tx = buf;
        self.tx.truncate(0);
        self.tx.shrink_to(KEEP_CAPACITY);
        r
    }

    /// Waits until the socket is readable; `Ok(false)` when `wait` ran out.
    fn wait_readable(&self, wait: Wait) -> Result<bool, RecvError> {
        match wait {
            Wait::Forever => Ok(true),
            Wait::Try => Ok(false),
            Wait::Until(d) => sys::poll_readable(&[self.fd.as_fd()], Some(d))
                .map(|r| r[0])
                .map_err(RecvError::Io),
        }
    }

    /// One read into the partial message. `Ok(())` when some bytes came.
    fn read_some(&mut self, wait: Wait) -> Result<(), RecvError> {
        let blocking = matches!(wait, Wait::Forever);
        loop {
            let fd = self.fd.as_fd();
            let r = match &mut self.rx.body {
                None => sys::recv_into(fd, &mut self.rx.head[self.rx.head_got..], !blocking),
                Some(body) => {
                    let left = self.rx.len - body.len();
                    if body.spare_capacity_mut().is_empty() {
                        // Grow with what has arrived (doubling), never to the announced size
                        // at once.
                        let more = body.len().max(FIRST_CHUNK).min(left);
                        body.reserve_exact(more);
                    }
                    sys::recv_into_spare(fd, body, left, !blocking)
                }
            };
            match r {
                Ok(0) => {
                    // End of stream: a message cut short is discarded, never presented.
                    self.break_off();
                    return Err(RecvError::Disconnected);
                }
                Ok(n) => {
                    if self.rx.body.is_none() {
                        self.rx.head_got += n;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait_readable(wait)? {
                        return Err(match wait {
                            Wait::Try => RecvError::Empty,
                            _ => RecvError::Timeout,
                        });
                    }
                }
                Err(e) if is_disconnect(&e) => {
                    self.break_off();
                    return Err(RecvError::Disconnected);
                }
                Err(e) => return Err(RecvError::Io(e)),
            }
        }
    }

    /// Receives one whole message.
    pub(crate) fn recv_frame(&mut self, wait: Wait) -> Result<Vec<u8>, RecvError> {
        if self.broken {
            return Err(RecvError::Disconnected);
        }
        loop {
            if self.rx.body.is_none() {
                if self.rx.head_got < HEADER {
                    self.read_some(wait)?;
                    continue;
                }
                let len = u64::from_le_bytes(self.rx.head);
                if len > self.max {
                    // Refused before allocating anything; the stream cannot be resynchronised.
                    self.break_off();
                    return Err(RecvError::TooLarge { len, max: self.max });
                }
                let Ok(len) = usize::try_from(len) else {
                    self.break_off();
                    return Err(RecvError::TooLarge { len, max: self.max });
                };
                let mut body = std::mem::take(&mut self.spare);
                body.clear();
                self.rx.len = len;
                self.rx.body = Some(body);
            }
            let done = self
                .rx
                .body
                .as_ref()
                .is_some_and(|b| b.len() == self.rx.len);
            if done {
                let body = self.rx.body.take().unwrap_or_default();
                self.rx = Partial::default();
                return Ok(body);
            }
            self.read_some(wait)?;
        }
    }

    /// Gives a received message's buffer back for reuse.
    fn recycle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        buf.shrink_to(KEEP_CAPACITY);
        self.spare = buf;
    }

    pub(crate) fn recv_value<T: DeserializeOwned>(&mut self, wait: Wait) -> Result<T, RecvError> {
        let msg = self.recv_frame(wait)?;
        let r = match postcard::take_from_bytes::<T>(&msg) {
            Ok((v, [])) => Ok(v),
            Ok((_, rest)) => Err(RecvError::TrailingBytes { extra: rest.len() }),
            Err(e) => Err(RecvError::Decode(e.to_string())),
        };
        self.recycle(msg);
        r
    }

    pub(crate) fn recv_into(&mut self, buf: &mut [u8], wait: Wait) -> Result<usize, RecvError> {
        let msg = self.recv_frame(wait)?;
        match buf.get_mut(..msg.len()) {
            Some(dst) => {
                dst.copy_from_slice(&msg);
                let n = msg.len();
                self.recycle(msg);
                Ok(n)
            }
            None => Err(RecvError::BufferTooShort(msg)),
        }
    }

    /// Whether a receive would find something (bytes, or the end of the stream) within
    /// `deadline`.
    pub(crate) fn poll(&self, deadline: Option<Instant>) -> io::Result<bool> {
        if self.broken {
            return Ok(true);
        }
        Ok(sys::poll_readable(&[self.fd.as_fd()], deadline)?[0])
    }
}
