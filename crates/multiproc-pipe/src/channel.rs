//! One end of a socket with message framing: an 8-byte little-endian header, then the bytes.
//! What every public end type is made of.
//!
//! The header's low 48 bits are the message's length; its high 16 bits the number of fds
//! attached to the message (`SCM_RIGHTS`, sent with the header's first byte, so they have
//! arrived by the time the header has).

use crate::error::{RecvError, SendError};
use crate::sys;
use multiproc_internal::transfer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub(crate) use multiproc_internal::spin::Spin;

/// The most fds (handles) one message carries: the kernel's limit per message (`SCM_MAX_FD`).
pub const MAX_FDS: usize = crate::sys::MAX_FDS;

/// The default maximum message size: 1 GiB.
pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 30;

/// Buffers kept between messages for reuse are trimmed to this.
const KEEP_CAPACITY: usize = 1 << 20;
/// The first allocation for a message body; later ones double with what has arrived, so
/// memory follows the bytes the peer really sent, never just its announcement.
const FIRST_CHUNK: usize = 64 << 10;

const HEADER: usize = 8;
/// Bits of the header holding the length; the rest count the fds.
const LEN_BITS: u32 = 48;
/// The largest message the header can describe (256 TiB - 1); caps are clamped to it.
pub const MAX_MESSAGE_LIMIT: u64 = (1 << LEN_BITS) - 1;
/// Messages up to this size are copied behind their header and sent from one buffer.
const SMALL_SEND: usize = 2048;
/// Read-ahead buffer: small messages are received many per syscall.
const READ_BUFFER: usize = 64 << 10;

/// One read, waiting as `wait` allows: `f(nonblocking)` does the read. `Ok(0)` is the end of
/// the stream (a reset connection counts as one).
fn read_wait(
    fd: BorrowedFd<'_>,
    wait: Wait,
    spin: &mut Spin,
    mut f: impl FnMut(bool) -> io::Result<usize>,
) -> Result<usize, RecvError> {
    // `None`: nothing yet; `Some(r)`: the read's outcome.
    let mut attempt = |nonblocking: bool| match f(nonblocking) {
        Ok(n) => Some(Ok(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) if is_disconnect(&e) => Some(Ok(0)),
        Err(e) => Some(Err(RecvError::Io(e))),
    };
    loop {
        if let Some(r) = attempt(true) {
            return r;
        }
        let deadline = match wait {
            Wait::Try => return Err(RecvError::Empty),
            Wait::Forever => None,
            Wait::Until(d) => Some(d),
        };
        let mut got = None;
        // One read (a system call) per look at the clock.
        spin.spin_until(deadline, 1, || {
            got = attempt(true);
            got.is_some()
        });
        if let Some(r) = got {
            return r;
        }
        match deadline {
            None => {
                if let Some(r) = attempt(false) {
                    return r;
                }
                // A socket made non-blocking by someone else (it may have come from a peer):
                // wait for it as a blocking read would.
                sys::poll_one(fd, libc::POLLIN, None).map_err(RecvError::Io)?;
            }
            Some(d) => {
                if !sys::poll_one(fd, libc::POLLIN, Some(d)).map_err(RecvError::Io)? {
                    return Err(RecvError::Timeout);
                }
            }
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
    /// Where in the stream the header starts (set with its first byte).
    head_at: u64,
    /// The length, once the header is complete and checked (its fds are then in `fds`).
    len: Option<usize>,
    /// The body received so far, kept across a timed-out receive.
    body: Option<Vec<u8>>,
    /// The fds that came with this message.
    fds: Vec<OwnedFd>,
}

/// fds that came with one read: `[from, to)` is the stretch of the stream that read returned.
/// An honest sender attaches a message's fds to the message's first byte, so the header that
/// claims them starts inside that stretch.
#[derive(Debug)]
struct Batch {
    from: u64,
    to: u64,
    fds: Vec<OwnedFd>,
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
    /// fds received with bytes whose header has not been read yet, in arrival order.
    fds_in: VecDeque<Batch>,
    /// Bytes read from the socket so far; `in_base`: the stream offset of `inbuf[0]`.
    pos: u64,
    in_base: u64,
    spin: Spin,
    /// A framing error or a half-sent message: nothing more can be exchanged.
    broken: bool,
    /// Set by the connection that sent this end to another process: it is no longer ours.
    moved: Arc<AtomicBool>,
    /// A Unix-domain socket (fds can travel); otherwise TCP.
    unix: bool,
}

/// Errors that mean the peer is gone (a reset connection counts as the end of the stream).
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
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
            fds_in: VecDeque::new(),
            pos: 0,
            in_base: 0,
            spin: Spin::new(),
            broken: false,
            moved: Arc::default(),
            unix,
        }
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: u64) {
        self.max = max.min(MAX_MESSAGE_LIMIT);
    }

    /// The flag a sending connection sets once this end has gone to another process.
    pub(crate) fn moved_flag(&self) -> Arc<AtomicBool> {
        self.moved.clone()
    }

    /// Whether this end was sent to another process; if so it is retired (once): it then
    /// reports a disconnection for everything, and its fd no longer refers to the stream.
    fn gone(&mut self) -> bool {
        if !self.moved.load(Ordering::Acquire) {
            return false;
        }
        if !self.broken {
            self.broken = true;
            self.rx = Partial::default();
            self.in_start = 0;
            self.in_end = 0;
            self.fds_in = VecDeque::new();
            // This process's reference to the stream goes, so that the stream can end when
            // its new owner drops it (never `shutdown`: that would cut the new owner off).
            if let Ok(null) = std::fs::File::open("/dev/null") {
                self.fd = null.into();
            }
        }
        true
    }

    /// Whether the end can be handed to another process without losing anything: no bytes
    /// or fds read from the socket and not yet received as messages, and a stream that can
    /// still carry messages.
    pub(crate) fn check_transfer(&self) -> io::Result<()> {
        if self.moved.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the end was already sent to another process",
            ));
        }
        if self.broken {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the end is closed (its stream broke): a new owner would read from the middle",
            ));
        }
        if self.has_buffered()
            || self.rx.head_got > 0
            || self.rx.body.is_some()
            || !self.fds_in.is_empty()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the end holds received bytes not yet read as messages: receive them before \
                 sending the end",
            ));
        }
        Ok(())
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
        self.fds_in = VecDeque::new();
        if !self.moved.load(Ordering::Acquire) {
            let _ = sys::shutdown(self.fd.as_fd(), libc::SHUT_RDWR);
        }
    }

    pub(crate) fn send_frame(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_frame_fds(payload, &[])
    }

    /// Sends one message with `fds` attached.
    pub(crate) fn send_frame_fds(
        &mut self,
        payload: &[u8],
        fds: &[RawFd],
    ) -> Result<(), SendError> {
        let len = payload.len() as u64;
        check_frame(len, self.max, fds.len())?;
        if !fds.is_empty() && !self.unix {
            return Err(SendError::FdsUnsupported);
        }
        if self.gone() || self.broken {
            return Err(SendError::Disconnected);
        }
        let head = (len | (fds.len() as u64) << LEN_BITS).to_le_bytes();
        if !fds.is_empty() {
            return self.send_all(&head, payload, fds);
        }
        if payload.len() <= SMALL_SEND {
            // Small: one contiguous buffer and a plain `send`, cheaper than a gather.
            let mut frame = [0u8; HEADER + SMALL_SEND];
            frame[..HEADER].copy_from_slice(&head);
            frame[HEADER..HEADER + payload.len()].copy_from_slice(payload);
            return self.send_all(&frame[..HEADER + payload.len()], &[], &[]);
        }
        self.send_all(&head, payload, &[])
    }

    /// Sends `first` then `rest` completely, as one message's bytes, `fds` attached to the
    /// first byte.
    fn send_all(&mut self, first: &[u8], rest: &[u8], fds: &[RawFd]) -> Result<(), SendError> {
        let total = first.len() + rest.len();
        let mut sent = 0;
        while sent < total {
            let fd = self.fd.as_fd();
            let a = first.get(sent..).unwrap_or_default();
            let b = &rest[sent.saturating_sub(first.len())..];
            let r = if sent == 0 && !fds.is_empty() {
                sys::send_with_fds(fd, a, b, fds)
            } else if a.is_empty() {
                sys::send(fd, b)
            } else if b.is_empty() {
                sys::send(fd, a)
            } else {
                sys::send_vectored(fd, a, b)
            };
            match r {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Made non-blocking by someone else: wait for room, as a blocking send.
                    if let Err(e) = sys::poll_one(fd, libc::POLLOUT, None) {
                        if sent > 0 {
                            self.break_off();
                        }
                        return Err(SendError::Io(e));
                    }
                }
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

    /// Encodes and sends `value`; `moving`: it is sent by value, so connection ends in it
    /// may go (the caller drops them afterwards).
    pub(crate) fn send_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        moving: bool,
    ) -> Result<(), SendError> {
        let buf = std::mem::take(&mut self.tx);
        let (buf, r) = send_encoded(buf, value, moving, |buf, fds| {
            let was_broken = self.broken;
            let r = self.send_frame_fds(buf, fds);
            (r, self.broken && !was_broken)
        });
        self.tx = buf;
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
    /// messages. fds that came with the bytes are kept for the header that claims them.
    fn fill(&mut self, wait: Wait) -> Result<(), RecvError> {
        debug_assert!(!self.has_buffered());
        if self.inbuf.is_empty() {
            self.inbuf = vec![0; READ_BUFFER].into_boxed_slice();
        }
        self.in_start = 0;
        self.in_end = 0;
        self.in_base = self.pos;
        let fd = self.fd.as_fd();
        let buf = &mut self.inbuf;
        let mut fds = Vec::new();
        let n = match read_wait(fd, wait, &mut self.spin, |nb| {
            sys::recv_with_fds(fd, buf, nb, &mut fds)
        }) {
            Ok(n) => n,
            Err(RecvError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                // fds were lost: the messages they belong to can never be whole.
                self.break_off();
                return Err(RecvError::Protocol(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        self.pos += n as u64;
        if !fds.is_empty() {
            if self.fds_in.len() >= 2 {
                return Err(self.protocol(
                    "the peer sent fds ahead of the messages that would claim them".to_owned(),
                ));
            }
            self.fds_in.push_back(Batch {
                from: self.in_base,
                to: self.pos,
                fds,
            });
        }
        if n == 0 {
            return Err(self.ended());
        }
        self.in_end = n;
        Ok(())
    }

    /// The peer broke the framing: nothing more can be exchanged.
    fn protocol(&mut self, what: String) -> RecvError {
        self.break_off();
        RecvError::Protocol(what)
    }

    /// End of stream: a message cut short is discarded, never presented.
    fn ended(&mut self) -> RecvError {
        self.break_off();
        RecvError::Disconnected
    }

    /// Completes the header of the next message; returns its length, checked against the cap,
    /// and takes the fds that came with it.
    fn header(&mut self, wait: Wait) -> Result<usize, RecvError> {
        if self.gone() || self.broken {
            return Err(RecvError::Disconnected);
        }
        if let Some(len) = self.rx.len {
            return Ok(len);
        }
        while self.rx.head_got < HEADER {
            if !self.has_buffered() {
                self.fill(wait)?;
            }
            if self.rx.head_got == 0 {
                self.rx.head_at = self.in_base + self.in_start as u64;
            }
            let mut head = self.rx.head;
            self.rx.head_got += self.take_into(&mut head[self.rx.head_got..]);
            self.rx.head = head;
        }
        let head = u64::from_le_bytes(self.rx.head);
        let len = head & MAX_MESSAGE_LIMIT;
        let nfds = (head >> LEN_BITS) as usize;
        let len = match usize::try_from(len) {
            Ok(n) if len <= self.max => n,
            _ => {
                // Refused before allocating anything; the stream cannot be resynchronised.
                self.break_off();
                return Err(RecvError::TooLarge { len, max: self.max });
            }
        };
        let at = self.rx.head_at;
        if self.fds_in.front().is_some_and(|b| b.to <= at) {
            return Err(self.protocol("the peer sent fds with no message to claim them".to_owned()));
        }
        if nfds > 0 {
            let had = match self.fds_in.front() {
                Some(b) if b.from <= at => b.fds.len(),
                _ => 0,
            };
            if had != nfds {
                return Err(self.protocol(format!(
                    "a message announces {nfds} fds but {had} came with it"
                )));
            }
            self.rx.fds = self.fds_in.pop_front().map(|b| b.fds).unwrap_or_default();
        }
        self.rx.len = Some(len);
        Ok(len)
    }

    /// Receives one whole message; fds that came with it are closed.
    pub(crate) fn recv_frame(&mut self, wait: Wait) -> Result<Vec<u8>, RecvError> {
        self.recv_frame_fds(wait).map(|(body, _)| body)
    }

    /// Receives one whole message and the fds that came with it.
    pub(crate) fn recv_frame_fds(
        &mut self,
        wait: Wait,
    ) -> Result<(Vec<u8>, Vec<OwnedFd>), RecvError> {
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
                let fds = std::mem::take(&mut self.rx.fds);
                self.rx = Partial::default();
                Ok((body, fds))
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
            let n = read_wait(fd, wait, &mut self.spin, |nb| {
                sys::recv_into_spare(fd, body, left, nb)
            })?;
            if n == 0 {
                return Err(self.ended());
            }
            self.pos += n as u64;
        }
    }

    /// Gives a received message's buffer back for reuse.
    fn recycle(&mut self, buf: Vec<u8>) {
        recycle(&mut self.spare, buf);
    }

    pub(crate) fn recv_value<T: DeserializeOwned>(&mut self, wait: Wait) -> Result<T, RecvError> {
        let (msg, fds) = self.recv_frame_fds(wait)?;
        let r = decode(&msg, fds);
        self.recycle(msg);
        r
    }

    pub(crate) fn recv_into(&mut self, buf: &mut [u8], wait: Wait) -> Result<usize, RecvError> {
        let len = self.header(wait)?;
        if self.rx.body.is_some() || len > buf.len() || !matches!(wait, Wait::Forever) {
            // Through a vector: a message that does not fit is handed back whole, and one
            // that a timeout interrupts is kept.
            let msg = self.recv_frame(wait)?;
            return copy_out(&mut self.spare, msg, buf);
        }
        // Straight into the caller's buffer: no wait can interrupt it half-way.
        let dst = &mut buf[..len];
        let mut got = self.take_into(dst);
        while got < len {
            let fd = self.fd.as_fd();
            match read_wait(fd, Wait::Forever, &mut self.spin, |nb| {
                sys::recv_into(fd, &mut dst[got..], nb)
            }) {
                Ok(0) => return Err(self.ended()),
                Ok(n) => {
                    got += n;
                    self.pos += n as u64;
                }
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
        if self.broken || self.has_buffered() || self.moved.load(Ordering::Acquire) {
            return Ok(true);
        }
        sys::poll_one(self.fd.as_fd(), libc::POLLIN, deadline)
    }
}

/// Encodes `value` into `buf` (reused: handed back cleared) and sends it with `send(bytes,
/// fds)`, which says whether the send failed part-way (the peer may then hold the fds).
/// `moving`: sent by value, so connection ends in it may go; once sent, or partly sent, they
/// are marked as gone.
pub(crate) fn send_encoded<T: Serialize + ?Sized>(
    mut buf: Vec<u8>,
    value: &T,
    moving: bool,
    send: impl FnOnce(&[u8], &[RawFd]) -> (Result<(), SendError>, bool),
) -> (Vec<u8>, Result<(), SendError>) {
    buf.clear();
    let (encoded, mut handles) = transfer::collect(moving, || postcard::to_extend(value, buf));
    let mut buf = match (encoded, handles.error.take()) {
        (Ok(buf), None) => buf,
        (_, Some(e)) => return (Vec::new(), Err(SendError::Encode(e.to_string()))),
        (Err(e), None) => return (Vec::new(), Err(SendError::Encode(e.to_string()))),
    };
    let fds: Vec<RawFd> = handles.fds.iter().map(AsRawFd::as_raw_fd).collect();
    let (r, partly) = send(&buf, &fds);
    if r.is_ok() || partly {
        // Gone, or partly gone (the peer may hold the fds): the ends in it are not ours.
        handles.mark_moved();
    }
    buf.clear();
    buf.shrink_to(KEEP_CAPACITY);
    (buf, r)
}

/// Decodes a received message as a `T`; handles in it take their fds from `fds`, and the
/// fds nobody claimed are closed.
pub(crate) fn decode<T: DeserializeOwned>(msg: &[u8], fds: Vec<OwnedFd>) -> Result<T, RecvError> {
    let (decoded, handle_error) = transfer::provide(fds, || postcard::take_from_bytes::<T>(msg));
    match (decoded, handle_error) {
        (_, Some(e)) => Err(RecvError::Decode(e.to_string())),
        (Ok((v, [])), None) => Ok(v),
        (Ok((_, rest)), None) => Err(RecvError::TrailingBytes { extra: rest.len() }),
        (Err(e), None) => Err(RecvError::Decode(e.to_string())),
    }
}

/// The checks before sending a message of `len` bytes with `nfds` fds, on either transport.
pub(crate) fn check_frame(len: u64, max: u64, nfds: usize) -> Result<(), SendError> {
    if len > max {
        return Err(SendError::TooLarge { len, max });
    }
    if nfds > MAX_FDS {
        return Err(SendError::TooManyFds {
            count: nfds,
            max: MAX_FDS,
        });
    }
    Ok(())
}

/// Copies a received message into `buf` and keeps its buffer in `spare`; a message that does
/// not fit is handed back whole.
pub(crate) fn copy_out(
    spare: &mut Vec<u8>,
    msg: Vec<u8>,
    buf: &mut [u8],
) -> Result<usize, RecvError> {
    let Some(dst) = buf.get_mut(..msg.len()) else {
        return Err(RecvError::BufferTooShort(msg));
    };
    dst.copy_from_slice(&msg);
    let n = msg.len();
    recycle(spare, msg);
    Ok(n)
}

/// Checks a socket received from another process for an end (a connected stream socket, not
/// listening; Unix-domain only if `unix_only`, else also TCP) and resets the receive options
/// its sender may have set that would change how we read. Returns whether it is Unix-domain.
pub(crate) fn received_stream_socket(fd: BorrowedFd<'_>, unix_only: bool) -> io::Result<bool> {
    let kind = sys::socket_kind(fd)?;
    let unix = kind.domain == libc::AF_UNIX;
    let inet = kind.domain == libc::AF_INET || kind.domain == libc::AF_INET6;
    if kind.ty != libc::SOCK_STREAM || kind.listening || !(unix || (inet && !unix_only)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not the connected stream socket of a connection",
        ));
    }
    sys::reset_receive_options(fd)?;
    Ok(unix)
}

/// Gives a received message's buffer back for reuse in `spare`.
pub(crate) fn recycle(spare: &mut Vec<u8>, mut buf: Vec<u8>) {
    buf.clear();
    buf.shrink_to(KEEP_CAPACITY);
    *spare = buf;
}
