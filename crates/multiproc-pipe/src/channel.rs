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
/// Messages up to this size are copied behind their header and sent from one buffer.
const SMALL_SEND: usize = 2048;
/// Read-ahead buffer: small messages are received many per syscall.
const READ_BUFFER: usize = 64 << 10;

/// One read, waiting as `wait` allows: `f(nonblocking)` does the read. `Ok(0)` is the end of
/// the stream (a reset connection counts as one).
fn read_wait(
    fd: BorrowedFd<'_>,
    wait: Wait,
    mut f: impl FnMut(bool) -> io::Result<usize>,
) -> Result<usize, RecvError> {
    let blocking = matches!(wait, Wait::Forever);
    loop {
        match f(!blocking) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match wait {
                Wait::Forever => {}
                Wait::Try => return Err(RecvError::Empty),
                Wait::Until(d) => {
                    if !sys::poll_readable(&[fd], Some(d)).map_err(RecvError::Io)?[0] {
                        return Err(RecvError::Timeout);
                    }
                }
            },
            Err(e) if is_disconnect(&e) => return Ok(0),
            Err(e) => return Err(RecvError::Io(e)),
        }
    }
}

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
    /// The body received so far, kept across a timed-out receive.
    body: Option<Vec<u8>>,
}

#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
    max: u64,
    rx: Partial,
    /// Reused: the last received message's buffer, and the encoding buffer.
    spare: Vec<u8>,
    tx: Vec<u8>,
    /// Bytes read ahead from the socket: `inbuf[in_start..in_end]`. Allocated on first use.
    inbuf: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    /// A framing error or a half-sent message: nothing more can be exchanged.
    broken: bool,
    /// A Unix-domain socket (fds can travel); otherwise TCP.
    #[allow(dead_code)] // fd passing comes next
    unix: bool,
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ESHUTDOWN)
    )
}

impl Channel {
    /// A channel over a connected stream socket: Unix-domain (`unix`) or TCP.
    pub(crate) fn new(fd: OwnedFd, unix: bool) -> Channel {
        Channel {
            fd,
            max: DEFAULT_MAX_MESSAGE,
            rx: Partial::default(),
            spare: Vec::new(),
            tx: Vec::new(),
            inbuf: Box::default(),
            in_start: 0,
            in_end: 0,
            broken: false,
            unix,
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
        self.in_start = 0;
        self.in_end = 0;
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
        if payload.len() <= SMALL_SEND {
            // Small: one contiguous buffer and a plain `send`, cheaper than a gather.
            let mut frame = [0u8; HEADER + SMALL_SEND];
            frame[..HEADER].copy_from_slice(&head);
            frame[HEADER..HEADER + payload.len()].copy_from_slice(payload);
            return self.send_all(&frame[..HEADER + payload.len()], &[]);
        }
        self.send_all(&head, payload)
    }

    /// Sends `first` then `rest` completely, as one message's bytes.
    fn send_all(&mut self, first: &[u8], rest: &[u8]) -> Result<(), SendError> {
        let total = first.len() + rest.len();
        let mut sent = 0;
        while sent < total {
            let fd = self.fd.as_fd();
            let a = first.get(sent..).unwrap_or_default();
            let b = &rest[sent.saturating_sub(first.len())..];
            let r = if a.is_empty() {
                sys::send(fd, b)
            } else if b.is_empty() {
                sys::send(fd, a)
            } else {
                sys::send_vectored(fd, a, b)
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

    /// Whether bytes are waiting in this end's own buffer (the socket may then be empty).
    pub(crate) fn has_buffered(&self) -> bool {
        self.in_start < self.in_end
    }

    /// Moves up to `n` buffered bytes out.
    fn take_buffered(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.in_end - self.in_start);
        let from = self.in_start;
        self.in_start += n;
        &self.inbuf[from..from + n]
    }

    /// Copies buffered bytes into the start of `dst`; returns how many.
    fn take_into(&mut self, dst: &mut [u8]) -> usize {
        let src = self.take_buffered(dst.len());
        dst[..src.len()].copy_from_slice(src);
        src.len()
    }

    /// Reads what the socket has into the (empty) buffer: one syscall for many small
    /// messages.
    fn fill(&mut self, wait: Wait) -> Result<(), RecvError> {
        debug_assert!(!self.has_buffered());
        if self.inbuf.is_empty() {
            self.inbuf = vec![0; READ_BUFFER].into_boxed_slice();
        }
        self.in_start = 0;
        self.in_end = 0;
        let fd = self.fd.as_fd();
        let buf = &mut self.inbuf;
        let n = read_wait(fd, wait, |nb| sys::recv_into(fd, buf, nb))?;
        if n == 0 {
            return Err(self.ended());
        }
        self.in_end = n;
        Ok(())
    }

    /// End of stream: a message cut short is discarded, never presented.
    fn ended(&mut self) -> RecvError {
        self.break_off();
        RecvError::Disconnected
    }

    /// Completes the header of the next message; returns its length, checked against the cap.
    fn header(&mut self, wait: Wait) -> Result<usize, RecvError> {
        if self.broken {
            return Err(RecvError::Disconnected);
        }
        while self.rx.head_got < HEADER {
            if !self.has_buffered() {
                self.fill(wait)?;
            }
            let mut head = self.rx.head;
            self.rx.head_got += self.take_into(&mut head[self.rx.head_got..]);
            self.rx.head = head;
        }
        let len = u64::from_le_bytes(self.rx.head);
        match usize::try_from(len) {
            Ok(n) if len <= self.max => Ok(n),
            _ => {
                // Refused before allocating anything; the stream cannot be resynchronised.
                self.break_off();
                Err(RecvError::TooLarge { len, max: self.max })
            }
        }
    }

    /// Receives one whole message.
    pub(crate) fn recv_frame(&mut self, wait: Wait) -> Result<Vec<u8>, RecvError> {
        let len = self.header(wait)?;
        let mut body = match self.rx.body.take() {
            Some(b) => b,
            None => {
                let mut b = std::mem::take(&mut self.spare);
                b.clear();
                b
            }
        };
        let r = self.fill_body(&mut body, len, wait);
        match r {
            Ok(()) => {
                self.rx = Partial::default();
                Ok(body)
            }
            Err(e) => {
                if !self.broken {
                    self.rx.body = Some(body); // completed by the next receive
                }
                Err(e)
            }
        }
    }

    fn fill_body(&mut self, body: &mut Vec<u8>, len: usize, wait: Wait) -> Result<(), RecvError> {
        loop {
            let left = len - body.len();
            if left == 0 {
                return Ok(());
            }
            if self.has_buffered() {
                body.extend_from_slice(self.take_buffered(left));
                continue;
            }
            if left < READ_BUFFER / 2 {
                self.fill(wait)?;
                continue;
            }
            // Large: straight into the message, growing with what arrives (doubling), never
            // to the announced size at once.
            if body.spare_capacity_mut().is_empty() {
                body.reserve_exact(body.len().max(FIRST_CHUNK).min(left));
            }
            let fd = self.fd.as_fd();
            let n = read_wait(fd, wait, |nb| sys::recv_into_spare(fd, body, left, nb))?;
            if n == 0 {
                return Err(self.ended());
            }
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
        let len = self.header(wait)?;
        if self.rx.body.is_some() || len > buf.len() || !matches!(wait, Wait::Forever) {
            // Through a vector: a message that does not fit is handed back whole, and one
            // that a timeout interrupts is kept.
            let msg = self.recv_frame(wait)?;
            return match buf.get_mut(..msg.len()) {
                Some(dst) => {
                    dst.copy_from_slice(&msg);
                    let n = msg.len();
                    self.recycle(msg);
                    Ok(n)
                }
                None => Err(RecvError::BufferTooShort(msg)),
            };
        }
        // Straight into the caller's buffer: no wait can interrupt it half-way.
        let dst = &mut buf[..len];
        let mut got = self.take_into(dst);
        while got < len {
            let fd = self.fd.as_fd();
            match read_wait(fd, Wait::Forever, |nb| {
                sys::recv_into(fd, &mut dst[got..], nb)
            }) {
                Ok(0) => return Err(self.ended()),
                Ok(n) => got += n,
                Err(e) => {
                    // The bytes read so far are the caller's: the stream cannot continue.
                    self.break_off();
                    return Err(e);
                }
            }
        }
        self.rx = Partial::default();
        Ok(len)
    }

    /// Whether a receive would find something (bytes, or the end of the stream) within
    /// `deadline`.
    pub(crate) fn poll(&self, deadline: Option<Instant>) -> io::Result<bool> {
        if self.broken || self.has_buffered() {
            return Ok(true);
        }
        Ok(sys::poll_readable(&[self.fd.as_fd()], deadline)?[0])
    }
}
