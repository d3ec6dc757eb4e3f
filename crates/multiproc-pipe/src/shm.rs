//! The shared-memory transport: one ring per direction (`multiproc_internal::ring`, in a
//! sealed memfd) carries the messages; a Unix socket pair per direction carries what memory
//! cannot: fds, wake-ups, and the end of the peer.
//!
//! A direction's socket carries, from writer to reader, one byte per wake-up ("bell") and one
//! byte per batch of fds (`SCM_RIGHTS`); from reader to writer, one byte per "room was made"
//! wake-up. A message with fds is tagged in the ring with their count, and its fds are sent
//! on the socket before the message is published, so they are in the reader's socket by the
//! time it sees the message.
//!
//! Nobody sleeps unless it must: a receiver that finds the ring empty spins (bounded,
//! adaptive: [`Spin`]), then announces it sleeps (the ring's reader-waiting flag), looks
//! once more, and sleeps on its socket; a sender rings only if that flag is set (one bell per
//! sleep). So the receiving socket is readable when a message waits and the receiver had
//! said it sleeps — which `try_recv` returning [`RecvError::Empty`], `poll` and `wait` all
//! say — or when the peer is gone (all its copies of the socket closed: a SIGKILLed peer
//! too).
//!
//! Everything in the shared ring is untrusted; so are the socket's bytes and fds: a peer
//! that piles up fds no message claims, announces fds it never sends, or corrupts the ring
//! gets [`RecvError::Protocol`] (or [`SendError::Protocol`]) and the connection is closed.

use crate::channel::{self, Spin, Wait, MAX_FDS};
use crate::error::{RecvError, SendError};
use crate::sys;
use multiproc_internal::ring::{Pop, Push, Ring, RingError, RingReader, RingWriter};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The default ring capacity per direction: 256 KiB (pages are committed as they are used).
pub const DEFAULT_RING_CAPACITY: usize = 256 << 10;

/// Batches of fds that may wait in the receiver for their messages. An honest sender sends a
/// message's fds just before publishing it, so when the ring is empty at most one batch can
/// be ahead of its message.
const MAX_UNCLAIMED: usize = 2;
/// One read of wake-up bytes.
const DRAIN_BYTES: usize = 256;
/// The most reads one drain makes: a peer flooding the socket cannot hold a receive there.
const DRAIN_READS: usize = 16;

/// Bytes on a socket: a wake-up, and the byte that carries a batch of fds.
const BELL: u8 = 0;
const FDS: u8 = 1;

/// The sending half: the ring's writing side and the socket beside it.
#[derive(Debug)]
struct Tx {
    sock: OwnedFd,
    ring: RingWriter<Arc<Ring>>,
    spin: Spin,
    /// Sends since the peer was last checked for.
    unchecked: u32,
}

/// A sender looks for the end of its peer (one `poll`) once per this many sends: a peer that
/// died while awake is noticed by then at the latest (or when the ring fills, or when a
/// wake-up is due), even if the ring never fills.
const CHECK_PEER_EVERY: u32 = 128;

/// The receiving half.
#[derive(Debug)]
struct Rx {
    sock: OwnedFd,
    ring: RingReader<Arc<Ring>>,
    spin: Spin,
    /// What the socket brought that is not in the ring. Behind a lock because `poll` and
    /// `wait` (shared references) drain the socket too; receives (exclusive) take it without
    /// locking.
    side: Mutex<Side>,
    /// Whether this end set the ring's reader-waiting flag (and has not cleared it since).
    armed: AtomicBool,
    /// The reading position when a waiting writer was last looked for.
    room_checked_at: u64,
    /// The socket reached its end: the peer is gone.
    eof: AtomicBool,
}

#[derive(Debug, Default)]
struct Side {
    /// fds received, in order, for messages not popped yet.
    batches: VecDeque<Vec<OwnedFd>>,
    /// A violation seen while draining through a shared reference, for the next receive.
    error: Option<String>,
}

impl Rx {
    /// A receiving half, armed: until its first receive, the fd announces every message (an
    /// end used only through an event loop works from the start).
    fn new(sock: OwnedFd, ring: Arc<Ring>) -> Rx {
        let rx = Rx {
            sock,
            ring: RingReader::new(ring),
            spin: Spin::new(),
            side: Mutex::default(),
            armed: AtomicBool::new(false),
            eof: AtomicBool::new(false),
            room_checked_at: 0,
        };
        rx.arm();
        rx
    }

    fn side(&mut self) -> &mut Side {
        self.side.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, Side> {
        self.side.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Says this end is about to sleep (unless it already said so and no bell has been
    /// taken since): the writer rings once it publishes.
    fn arm(&self) {
        let ring = self.ring.ring();
        if !self.armed.load(Ordering::Relaxed) || !ring.reader_waiting() {
            ring.set_reader_waiting(true);
            self.armed.store(true, Ordering::Relaxed);
        }
    }

    /// Awake again (a message was found): the writer need not ring.
    fn disarm(&self) {
        if self.armed.load(Ordering::Relaxed) {
            self.ring.ring().set_reader_waiting(false);
            self.armed.store(false, Ordering::Relaxed);
        }
    }

    /// Whether a receive would find something without sleeping: published bytes, the end of
    /// the peer, or an error to report.
    fn ready(&self, side: &Side) -> bool {
        self.eof.load(Ordering::Acquire)
            || side.error.is_some()
            || side.batches.len() >= MAX_UNCLAIMED
            || self.ring.has_data().unwrap_or(true)
    }

    /// Reads what the socket holds: wake-ups are dropped, batches of fds kept, the end noted.
    /// Stops at the first batch when `one_batch`, and never holds more than
    /// [`MAX_UNCLAIMED`] batches (the rest stays in the socket).
    fn drain(&self, side: &mut Side, one_batch: bool) {
        for _ in 0..DRAIN_READS {
            if side.batches.len() >= MAX_UNCLAIMED {
                return;
            }
            let mut buf = [0u8; DRAIN_BYTES];
            let mut fds = Vec::new();
            match sys::recv_with_fds(self.sock.as_fd(), &mut buf, true, &mut fds) {
                Ok(0) => {
                    self.eof.store(true, Ordering::Release);
                    return;
                }
                Ok(_) => {
                    if !fds.is_empty() {
                        side.batches.push_back(fds);
                        if one_batch {
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if channel::is_disconnect(&e) => {
                    self.eof.store(true, Ordering::Release);
                    return;
                }
                Err(e) => {
                    // fds lost at our fd limit (`InvalidData`), or the socket failed.
                    side.error.get_or_insert(e.to_string());
                    return;
                }
            }
        }
    }

    /// Tells a writer waiting for room that the reader made some (one wake-up per wait),
    /// once the reader has freed an eighth of the ring since it last looked, or taken all
    /// there is: a writer waits for at most a quarter of the ring to be free, and a reader
    /// that has taken everything is about to wait itself. (Looking costs a fence; Linux
    /// sockets likewise wake a writer only once enough room is free.)
    fn room_made(&mut self) {
        let at = self.ring.position();
        let cap = self.ring.ring().capacity() as u64;
        if !self.ring.caught_up() && at.wrapping_sub(self.room_checked_at) < cap / 8 {
            return;
        }
        self.room_checked_at = at;
        if self.ring.ring().take_writer_waiting() {
            // Full socket: the writer has wake-ups to read already. Gone: the reader finds
            // out by itself.
            let _ = sys::send_nonblocking(self.sock.as_fd(), &[BELL]);
        }
    }
}

/// An end over shared memory: a sending half, a receiving half, or both.
#[derive(Debug)]
pub(crate) struct ShmChannel {
    tx: Option<Tx>,
    rx: Option<Rx>,
    max: u64,
    /// The rings' rules were broken, the peer is gone, or the end was closed on an error:
    /// nothing more can be exchanged.
    broken: bool,
    /// Set by the connection that sent this end to another process.
    moved: Arc<AtomicBool>,
    /// Reused: the last received message's buffer, and the encoding buffer.
    spare: Vec<u8>,
    enc: Vec<u8>,
}

/// Half of a new direction: the ring and the two ends of its socket pair.
struct Direction {
    ring: Arc<Ring>,
    reader_sock: OwnedFd,
    writer_sock: OwnedFd,
}

impl Direction {
    fn new(capacity: usize) -> io::Result<Direction> {
        let ring = Arc::new(Ring::new(capacity)?);
        let (reader_sock, writer_sock) = sys::socketpair()?;
        Ok(Direction {
            ring,
            reader_sock,
            writer_sock,
        })
    }
}

impl Tx {
    fn new(sock: OwnedFd, ring: Arc<Ring>) -> Tx {
        Tx {
            sock,
            ring: RingWriter::new(ring),
            spin: Spin::new(),
            unchecked: 0,
        }
    }
}

impl ShmChannel {
    fn new(tx: Option<Tx>, rx: Option<Rx>) -> ShmChannel {
        ShmChannel {
            tx,
            rx,
            max: channel::DEFAULT_MAX_MESSAGE,
            broken: false,
            moved: Arc::default(),
            spare: Vec::new(),
            enc: Vec::new(),
        }
    }

    /// Two connected duplex ends, each ring of `capacity` bytes.
    pub(crate) fn duplex(capacity: usize) -> io::Result<(ShmChannel, ShmChannel)> {
        let ab = Direction::new(capacity)?;
        let ba = Direction::new(capacity)?;
        let a = ShmChannel::new(
            Some(Tx::new(ab.writer_sock, ab.ring.clone())),
            Some(Rx::new(ba.reader_sock, ba.ring.clone())),
        );
        let b = ShmChannel::new(
            Some(Tx::new(ba.writer_sock, ba.ring)),
            Some(Rx::new(ab.reader_sock, ab.ring)),
        );
        Ok((a, b))
    }

    /// A receiving end and a sending end, the ring of `capacity` bytes.
    pub(crate) fn simplex(capacity: usize) -> io::Result<(ShmChannel, ShmChannel)> {
        let d = Direction::new(capacity)?;
        Ok((
            ShmChannel::new(None, Some(Rx::new(d.reader_sock, d.ring.clone()))),
            ShmChannel::new(Some(Tx::new(d.writer_sock, d.ring)), None),
        ))
    }

    /// The end rebuilt from fds received from another process: `first` (the receiving
    /// socket, or the sending one of an end that only sends) and `extra`, as
    /// [`transfer_fds`](ShmChannel::transfer_fds) lists them. `sends`/`receives`: the halves
    /// the end type has.
    pub(crate) fn from_fds(
        first: OwnedFd,
        extra: Vec<OwnedFd>,
        sends: bool,
        receives: bool,
    ) -> io::Result<ShmChannel> {
        let want = if sends && receives { 3 } else { 1 };
        if extra.len() != want {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} fds for a shared-memory end of {}",
                    extra.len() + 1,
                    want + 1
                ),
            ));
        }
        let mut extra = extra.into_iter();
        let mut next = || {
            extra
                .next()
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
        };
        let socket = |fd: OwnedFd| -> io::Result<OwnedFd> {
            channel::received_stream_socket(fd.as_fd(), true)?;
            Ok(fd)
        };
        let ring = |fd: OwnedFd| Ring::from_fd(fd).map(Arc::new);
        let (tx, rx) = if sends && receives {
            let rx_sock = socket(first)?;
            let tx_sock = socket(next()?)?;
            let rx_ring = ring(next()?)?;
            let tx_ring = ring(next()?)?;
            (
                Some(Tx::new(tx_sock, tx_ring)),
                Some(Rx::new(rx_sock, rx_ring)),
            )
        } else if receives {
            (None, Some(Rx::new(socket(first)?, ring(next()?)?)))
        } else {
            (Some(Tx::new(socket(first)?, ring(next()?)?)), None)
        };
        Ok(ShmChannel::new(tx, rx))
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: u64) {
        self.max = max.min(channel::MAX_MESSAGE_LIMIT);
    }

    pub(crate) fn moved_flag(&self) -> Arc<AtomicBool> {
        self.moved.clone()
    }

    /// The socket to wait on: the receiving one, or the sending one of an end that only
    /// sends.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match (&self.rx, &self.tx) {
            (Some(rx), _) => rx.sock.as_fd(),
            (None, Some(tx)) => tx.sock.as_fd(),
            (None, None) => unreachable!("an end has at least one half"),
        }
    }

    /// The fds that make the end, the first one first: the receiving socket (or the sending
    /// one), then the sending socket, the receiving ring and the sending ring, as the end has
    /// them.
    pub(crate) fn transfer_fds(&self) -> io::Result<(BorrowedFd<'_>, Vec<BorrowedFd<'_>>)> {
        self.check_transfer()?;
        let mut extra = Vec::new();
        if let (Some(_), Some(tx)) = (&self.rx, &self.tx) {
            extra.push(tx.sock.as_fd());
        }
        if let Some(rx) = &self.rx {
            extra.push(rx.ring.ring().block().fd());
        }
        if let Some(tx) = &self.tx {
            extra.push(tx.ring.ring().block().fd());
        }
        Ok((self.fd(), extra))
    }

    /// Whether the end can be handed to another process without losing anything.
    pub(crate) fn check_transfer(&self) -> io::Result<()> {
        let refuse = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()));
        if self.moved.load(Ordering::Acquire) {
            return refuse("the end was already sent to another process");
        }
        if self.broken {
            return refuse("the end is closed (its connection broke)");
        }
        if self.tx.as_ref().is_some_and(|tx| tx.ring.is_streaming()) {
            return refuse("the end is part-way through sending a message");
        }
        if let Some(rx) = &self.rx {
            let side = rx.lock();
            if rx.ring.is_assembling() || !side.batches.is_empty() || side.error.is_some() {
                return refuse(
                    "the end holds part of a received message, or the fds of one not yet \
                     received: receive that message before sending the end",
                );
            }
        }
        Ok(())
    }

    /// Whether this end was sent to another process; if so it is retired (once): its sockets
    /// are closed here, so that the connection ends when the new owner drops it.
    fn gone(&mut self) -> bool {
        if !self.moved.load(Ordering::Acquire) {
            return false;
        }
        if !self.broken {
            self.broken = true;
            let null = || std::fs::File::open("/dev/null").map(OwnedFd::from);
            if let Some(tx) = &mut self.tx {
                if let Ok(fd) = null() {
                    tx.sock = fd;
                }
            }
            if let Some(rx) = &mut self.rx {
                rx.ring.discard_partial();
                *rx.side() = Side::default();
                if let Ok(fd) = null() {
                    rx.sock = fd;
                }
            }
        }
        true
    }

    /// Closes both directions for good: the peer sees the end of the connection.
    fn break_off(&mut self) {
        self.broken = true;
        let ours = !self.moved.load(Ordering::Acquire);
        if let Some(tx) = &self.tx {
            if ours {
                let _ = sys::shutdown(tx.sock.as_fd(), libc::SHUT_RDWR);
            }
        }
        if let Some(rx) = &mut self.rx {
            rx.ring.discard_partial();
            *rx.side() = Side::default();
            if ours {
                let _ = sys::shutdown(rx.sock.as_fd(), libc::SHUT_RDWR);
            }
        }
    }

    fn send_protocol(&mut self, why: String) -> SendError {
        self.break_off();
        SendError::Protocol(why)
    }

    fn recv_protocol(&mut self, why: String) -> RecvError {
        self.break_off();
        RecvError::Protocol(why)
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
        channel::check_frame(payload.len() as u64, self.max, fds.len())?;
        if self.gone() || self.broken {
            return Err(SendError::Disconnected);
        }
        let Some(tx) = self.tx.as_mut() else {
            return Err(SendError::Disconnected);
        };
        tx.unchecked += 1;
        if tx.unchecked >= CHECK_PEER_EVERY {
            tx.unchecked = 0;
            // Readable-hang-up (or hang-up, or an error): the peer's every copy is closed.
            match sys::poll_one(tx.sock.as_fd(), libc::POLLRDHUP, Some(Instant::now())) {
                Ok(false) => {}
                Ok(true) => return Err(self.send_failed(io::Error::from_raw_os_error(libc::EPIPE))),
                Err(e) => return Err(self.send_failed(e)),
            }
        }
        let tx = self.tx.as_mut().expect("checked above");
        if !fds.is_empty() {
            // Before the message: in the reader's socket by the time it sees the message.
            if let Err(e) = sys::send_with_fds(tx.sock.as_fd(), &[FDS], &[], fds) {
                return Err(self.send_failed(e));
            }
        }
        let tag = fds.len() as u16; // at most MAX_FDS
        loop {
            let tx = self.tx.as_mut().expect("checked above");
            let pushed = tx.ring.try_push_tagged(tag, payload);
            // Wake a sleeping reader: for a whole message, and for the part of a large one
            // that is in, which it must take to make room.
            if tx.ring.ring().take_reader_waiting() {
                if let Err(e) = sys::send_nonblocking(tx.sock.as_fd(), &[BELL]) {
                    // A full socket: the reader has wake-ups to read already.
                    if e.kind() != io::ErrorKind::WouldBlock {
                        return Err(self.send_failed(e));
                    }
                }
            }
            match pushed {
                Ok(Push::Done) => return Ok(()),
                Ok(Push::Full) => self.wait_room()?,
                Err(e) => return Err(self.send_protocol(e.to_string())),
            }
        }
    }

    /// A socket error while sending: the peer is gone (or the socket failed). A message may
    /// be part-way in the ring: the end is closed either way.
    fn send_failed(&mut self, e: io::Error) -> SendError {
        self.break_off();
        if channel::is_disconnect(&e) {
            SendError::Disconnected
        } else {
            SendError::Io(e)
        }
    }

    /// Waits until the reader has made room in the ring: a bounded spin, then sleep on the
    /// socket until a wake-up or the end of the peer.
    fn wait_room(&mut self) -> Result<(), SendError> {
        let tx = self.tx.as_mut().expect("a sending end");
        let room = |tx: &Tx| tx.ring.has_room().map_err(|e| e.to_string());
        // An impossible position counts as found: the push that follows reports it.
        let ring = &tx.ring;
        if tx
            .spin
            .spin_until(None, SPIN_CHECKS, || ring.has_room().unwrap_or(true))
        {
            return Ok(());
        }
        loop {
            let tx = self.tx.as_mut().expect("a sending end");
            tx.ring.ring().set_writer_waiting(true);
            match room(tx) {
                Ok(true) => {
                    tx.ring.ring().set_writer_waiting(false);
                    return Ok(());
                }
                Ok(false) => {}
                Err(why) => return Err(self.send_protocol(why)),
            }
            let sock = tx.sock.as_fd();
            if let Err(e) = sys::poll_one(sock, libc::POLLIN, None) {
                return Err(self.send_failed(e));
            }
            // Wake-ups (any fds a hostile peer sends here are closed by the kernel).
            for _ in 0..DRAIN_READS {
                let mut buf = [0u8; DRAIN_BYTES];
                match sys::recv_into(sock, &mut buf, true) {
                    Ok(0) => {
                        return Err(self.send_failed(io::Error::from_raw_os_error(libc::EPIPE)))
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(self.send_failed(e)),
                }
            }
        }
    }

    /// Encodes and sends `value` (see [`channel::send_encoded`]).
    pub(crate) fn send_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        moving: bool,
    ) -> Result<(), SendError> {
        let buf = std::mem::take(&mut self.enc);
        let (buf, r) = channel::send_encoded(buf, value, moving, |buf, fds| {
            let was_broken = self.broken;
            let r = self.send_frame_fds(buf, fds);
            (r, self.broken && !was_broken)
        });
        self.enc = buf;
        r
    }

    /// Pops the next whole message into `out`, with its fds; `None` if there is none yet.
    fn pop(&mut self, out: &mut Vec<u8>) -> Result<Option<Vec<OwnedFd>>, RecvError> {
        let max = self.max;
        let rx = self.rx.as_mut().expect("a receiving end");
        let before = rx.ring.position();
        let popped = rx.ring.try_pop(out, max);
        if rx.ring.position() != before {
            rx.room_made();
        }
        match popped {
            Ok(Pop::Empty) => Ok(None),
            Ok(Pop::Message) => {
                rx.disarm();
                let nfds = usize::from(rx.ring.tag());
                if nfds == 0 {
                    return Ok(Some(Vec::new()));
                }
                let mut side = rx.lock();
                if side.batches.is_empty() {
                    // Sent before the message was published: in the socket now.
                    rx.drain(&mut side, true);
                }
                let batch = side.batches.pop_front();
                drop(side);
                match batch {
                    Some(fds) if fds.len() == nfds && nfds <= MAX_FDS => Ok(Some(fds)),
                    got => {
                        let had = got.map_or(0, |b| b.len());
                        Err(self.recv_protocol(format!(
                            "a message announces {nfds} fds but {had} came with it"
                        )))
                    }
                }
            }
            Err(RingError::TooLarge { len, max }) => {
                self.break_off();
                Err(RecvError::TooLarge { len, max })
            }
            Err(e) => Err(self.recv_protocol(e.to_string())),
        }
    }

    /// Receives one whole message and the fds that came with it.
    pub(crate) fn recv_frame_fds(
        &mut self,
        wait: Wait,
    ) -> Result<(Vec<u8>, Vec<OwnedFd>), RecvError> {
        if self.gone() || self.broken || self.rx.is_none() {
            return Err(RecvError::Disconnected);
        }
        let mut out = std::mem::take(&mut self.spare);
        let r = self.recv_loop(&mut out, wait);
        match r {
            Ok(fds) => Ok((out, fds)),
            Err(e) => {
                self.spare = out;
                Err(e)
            }
        }
    }

    fn recv_loop(&mut self, out: &mut Vec<u8>, wait: Wait) -> Result<Vec<OwnedFd>, RecvError> {
        let deadline = match wait {
            Wait::Forever => None,
            Wait::Until(d) => Some(d),
            Wait::Try => Some(Instant::now()),
        };
        let mut spun = matches!(wait, Wait::Try);
        loop {
            if let Some(fds) = self.look(out)? {
                return Ok(fds);
            }
            let rx = self.rx.as_mut().expect("a receiving end");
            if !spun {
                spun = true;
                let ring = &rx.ring;
                // An impossible position is reported by the pop that follows.
                if rx
                    .spin
                    .spin_until(deadline, SPIN_CHECKS, || ring.has_data().unwrap_or(true))
                {
                    continue;
                }
            }
            // Sleep: say so, then look once more before sleeping.
            rx.arm();
            let mut side = rx.lock();
            if matches!(wait, Wait::Try) {
                // Wake-ups already read: the socket is left quiet for an event loop.
                rx.drain(&mut side, false);
                drop(side);
                if let Some(fds) = self.look(out)? {
                    return Ok(fds);
                }
                return Err(RecvError::Empty);
            }
            let ready = rx.ready(&side);
            drop(side);
            if deadline.is_some_and(|d| d <= Instant::now()) {
                // Also while parts of a long message keep coming: the timeout holds, and
                // what arrived is kept for the next receive.
                return Err(RecvError::Timeout);
            }
            if ready {
                continue;
            }
            let sock = rx.sock.as_fd();
            if !sys::poll_one(sock, libc::POLLIN, deadline).map_err(RecvError::Io)? {
                return Err(RecvError::Timeout);
            }
            let rx = self.rx.as_mut().expect("a receiving end");
            rx.drain(&mut rx.lock(), false);
        }
    }

    /// One look, without waiting: a whole message (with its fds), or an error to report (a
    /// violation seen earlier, the end of the peer), or nothing yet.
    fn look(&mut self, out: &mut Vec<u8>) -> Result<Option<Vec<OwnedFd>>, RecvError> {
        if let Some(why) = self.rx.as_mut().and_then(|rx| rx.side().error.take()) {
            return Err(self.recv_protocol(why));
        }
        if let Some(fds) = self.pop(out)? {
            return Ok(Some(fds));
        }
        let rx = self.rx.as_mut().expect("a receiving end");
        if rx.eof.load(Ordering::Acquire) {
            // Everything published before the peer went was seen by the pop above; a
            // message it left half-written is dropped.
            self.break_off();
            return Err(RecvError::Disconnected);
        }
        if rx.side().batches.len() >= MAX_UNCLAIMED && !rx.ring.has_data().unwrap_or(true) {
            return Err(
                self.recv_protocol("the peer sent fds with no message to claim them".to_owned())
            );
        }
        Ok(None)
    }

    /// Receives one whole message; fds that came with it are closed.
    pub(crate) fn recv_frame(&mut self, wait: Wait) -> Result<Vec<u8>, RecvError> {
        self.recv_frame_fds(wait).map(|(body, _)| body)
    }

    pub(crate) fn recv_value<T: DeserializeOwned>(&mut self, wait: Wait) -> Result<T, RecvError> {
        let (msg, fds) = self.recv_frame_fds(wait)?;
        let r = channel::decode(&msg, fds);
        channel::recycle(&mut self.spare, msg);
        r
    }

    pub(crate) fn recv_into(&mut self, buf: &mut [u8], wait: Wait) -> Result<usize, RecvError> {
        let msg = self.recv_frame(wait)?;
        channel::copy_out(&mut self.spare, msg, buf)
    }

    /// For `wait`, before sleeping: says this end sleeps, then whether something can be
    /// received (or reported) without sleeping.
    pub(crate) fn has_buffered(&self) -> bool {
        if self.broken || self.moved.load(Ordering::Acquire) {
            return true;
        }
        let Some(rx) = &self.rx else { return false };
        if rx.ready(&rx.lock()) {
            return true; // no need to be woken
        }
        rx.arm();
        rx.ready(&rx.lock())
    }

    /// For `wait`, once the socket polled readable: drains it, and says whether that meant
    /// something to receive (not only a stale wake-up).
    pub(crate) fn settle(&self) -> bool {
        if self.broken || self.moved.load(Ordering::Acquire) {
            // Gone to another process: what the socket holds is the new owner's.
            return true;
        }
        let Some(rx) = &self.rx else { return true };
        let mut side = rx.lock();
        rx.drain(&mut side, false);
        rx.ready(&side)
    }

    /// Whether a receive would find something (bytes of a message, the end of the peer, an
    /// error) within `deadline`.
    pub(crate) fn poll(&self, deadline: Option<Instant>) -> io::Result<bool> {
        loop {
            if self.has_buffered() {
                return Ok(true);
            }
            let Some(rx) = &self.rx else { return Ok(false) };
            if !sys::poll_one(rx.sock.as_fd(), libc::POLLIN, deadline)? {
                return Ok(false);
            }
            if self.settle() {
                return Ok(true);
            }
        }
    }
}

/// Looks at the ring this many times between looks at the clock.
const SPIN_CHECKS: u32 = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use multiproc_internal::block::HEADER_LEN;
    use std::time::Duration;

    /// Cheap deterministic randomness (xorshift).
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// A receiving end reading a ring that a hostile thread scribbles over (positions,
    /// record headers, data, honest-looking records): every receive returns — a message, a
    /// timeout, or an error that closes the end — and none panics or hangs.
    #[test]
    fn a_hostile_peer_scribbling_over_the_ring_yields_only_errors() {
        const ITERATIONS: u64 = 1_000_000;
        const PER_ROUND: u64 = 20_000;
        const LEAD: u64 = 64;
        let mut st = 0x2545_f491_4f6c_dd1du64;
        let (mut protocol, mut messages, mut total) = (0u64, 0u64, 0u64);
        while total < ITERATIONS {
            let (a, mut b) = ShmChannel::duplex(4096).unwrap();
            let ring = a.tx.as_ref().unwrap().ring.ring();
            let stop = AtomicBool::new(false);
            let scribbles = std::sync::atomic::AtomicU64::new(0);
            // The receiver's attempts so far: the scribbler keeps within `LEAD` scribbles
            // of them, so that every round interleaves the two even on one CPU.
            let attempts = std::sync::atomic::AtomicU64::new(0);
            let seed = rng(&mut st);
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut st = seed;
                    let block = ring.block();
                    let base = HEADER_LEN;
                    let mut i = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        if i >= (attempts.load(Ordering::Acquire) + 1) * LEAD {
                            std::thread::yield_now();
                            continue;
                        }
                        i += 1;
                        scribbles.store(i, Ordering::Release);
                        let v = rng(&mut st);
                        match v % 6 {
                            // The write position: anywhere, or plausible.
                            0 => {
                                let head = if i.is_multiple_of(2) { v } else { v % 8192 };
                                block
                                    .atomic_u64(base)
                                    .unwrap()
                                    .store(head, Ordering::Release);
                            }
                            // The read position (the receiver reloads it between messages).
                            1 => block
                                .atomic_u64(base + 64)
                                .unwrap()
                                .store(v % 8192, Ordering::Release),
                            // A record header or data anywhere in the ring.
                            2 | 3 => {
                                let at = base + 256 + (v as usize >> 20) % (4096 - 8);
                                block.store(at, &v.to_le_bytes());
                            }
                            // An honest-looking record, sometimes tagged with fds never sent.
                            _ => {
                                let mut w = RingWriter::new(ring);
                                let tag = if v.is_multiple_of(7) { 3 } else { 0 };
                                let _ =
                                    w.try_push_tagged(tag, &v.to_le_bytes()[..(v % 9) as usize]);
                            }
                        }
                    }
                });
                // Receives until the scribbler has done its share of the iterations (or the
                // end is closed), then stops it.
                let mut n = 0u64;
                while scribbles.load(Ordering::Acquire) < PER_ROUND {
                    n += 1;
                    // Mostly quick looks; now and then a receive that spins and sleeps.
                    let wait = if n.is_multiple_of(16) {
                        Wait::Until(Instant::now() + Duration::from_millis(1))
                    } else {
                        Wait::Try
                    };
                    let got = b.recv_frame_fds(wait);
                    attempts.store(n, Ordering::Release);
                    match got {
                        Ok((msg, _)) => {
                            assert!(msg.len() as u64 <= b.max());
                            messages += 1;
                        }
                        Err(RecvError::Timeout | RecvError::Empty) => {}
                        Err(RecvError::Protocol(_) | RecvError::TooLarge { .. }) => {
                            protocol += 1;
                            // The end is closed for good.
                            assert!(matches!(
                                b.recv_frame(Wait::Try),
                                Err(RecvError::Disconnected)
                            ));
                            break;
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                }
                stop.store(true, Ordering::Release);
            });
            total += scribbles.load(Ordering::Acquire);
        }
        assert!(
            protocol > 0,
            "the scribbling was never noticed ({messages} messages)"
        );
    }
}
