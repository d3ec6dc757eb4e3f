//! The byte-level queue every typed queue is made of: a ring in shared memory, a robust lock
//! per side, and futex words to sleep on.
//!
//! # Layout of the block (payload offsets)
//!
//! | offset | what |
//! |---|---|
//! | 0 | the producers' lock (robust) |
//! | 64 | the consumers' lock (robust) |
//! | 128 | data sequence (futex) and "a consumer sleeps" flag |
//! | 192 | room sequence (futex) and "a producer sleeps" flag |
//! | 256 | `maxsize` (0: no count limit) and the message cap, written at creation |
//! | 272 | the kind: a plain, joinable or simple queue (each opens only as its own kind) |
//! | 320 | closed; a producer's message is streaming; a consumer is taking a streamed message; consumers drop the rest of a dead consumer's item |
//! | 336 | roles ever entered; "a process could not be entered" |
//! | 384 | unfinished tasks (joinable queues) and the join sequence (futex) |
//! | 448 | the processes that use the queue and their roles ([`crate::roles`]) |
//! | 4032 | the ring ([`Ring::within`]): positions, counts, data |
//!
//! # How a put and a get go
//!
//! A producer encodes its item first, then takes the producers' lock only to copy it in: a
//! message that fits the ring goes in as one record, or the producer lets the lock go and
//! waits for room (spinning, then sleeping on the room word). A message larger than the ring
//! streams through it in parts; its producer keeps the lock, and marks in shared memory that
//! it streams, for the whole message. A consumer does the same on its side: it waits for data
//! without the lock, takes the lock to take one message, and keeps it while a streamed message
//! arrives. Each side wakes the other only when the other said it sleeps (one flag, cleared by
//! the waker, so a sleeper that died costs one spare wake-up, not one per message).
//!
//! # When a process dies
//!
//! The locks are robust: the kernel marks a lock whose holder died, and the next holder
//! repairs what the dead one left. A producer that died mid-message left part of it in the
//! ring: the next producer (or a consumer waiting for the rest, which checks the lock every
//! [`DEATH_CHECK`]) ends it with an abort record, and the consumer drops the parts. A consumer
//! that died mid-message left the rest of it in the ring: the next consumer skips it. Either
//! way the one message is lost and no other. A producer that dies before its record is
//! published leaves nothing; one that dies after has sent the message.

use crate::error::Limit;
use multiproc_internal::block::{Layout, SharedBlock, HEADER_LEN};
use multiproc_internal::clock::Deadline;
use multiproc_internal::futex;
use multiproc_internal::ring::{Pop, Push, Ring, RingError, RingReader, RingWriter};
use multiproc_internal::robust::{Acquired, LockFail, RobustMutex};
use multiproc_internal::spin::Spin;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const MAGIC: u64 = u64::from_le_bytes(*b"MPQUEUE\0");
const VERSION: u32 = 1;

const WLOCK: usize = 0;
const RLOCK: usize = 64;
const DATA_SEQ: usize = 128;
const CONSUMER_SLEEPS: usize = 132;
const ROOM_SEQ: usize = 192;
const PRODUCER_SLEEPS: usize = 196;
const MAXSIZE: usize = 256;
const MAX_MESSAGE: usize = 264;
const KIND: usize = 272;
const CLOSED: usize = 320;
const WRITER_STREAMING: usize = 324;
const READER_STREAMING: usize = 328;
/// Set while consumers drop the rest of an item a dead consumer took part of.
const READER_SKIPPING: usize = 332;
const UNFINISHED: usize = 384;
const JOIN_SEQ: usize = 392;
/// Where the ring starts: the block's first page holds the header and the control words.
const RING: usize = 4096 - HEADER_LEN;
// Checked when compiling: the control words end before the ring, which starts on a page.
const _: () = assert!(READER_SKIPPING + 4 <= crate::roles::EVER);
const _: () = assert!((HEADER_LEN + RING).is_multiple_of(4096));

/// The default ring capacity: 16 MiB, allocated as it is first used.
pub const DEFAULT_CAPACITY: usize = 16 << 20;
/// The smallest ring capacity.
pub const MIN_CAPACITY: usize = multiproc_internal::ring::MIN_CAPACITY;
/// The largest ring capacity (1 GiB).
pub const MAX_CAPACITY: usize = multiproc_internal::ring::MAX_CAPACITY;
/// The default message cap: 1 GiB.
pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 30;

/// A sleeper wakes at least this often to look around (a waker that died between publishing
/// and waking, a sleeper's wake-up taken by one that died).
const SLICE: Duration = Duration::from_millis(250);
/// How often a consumer waiting for the rest of a streamed message checks that its producer
/// lives.
pub(crate) const DEATH_CHECK: Duration = Duration::from_millis(50);
/// A consumer's buffer is dropped after a message larger than this (not kept for reuse).
const KEEP_CAPACITY: usize = 1 << 20;
/// How long a non-waiting call waits for a lock held only for a copy, per look at the reason.
const BRIEF: Duration = Duration::from_millis(2);
/// And in all.
const BRIEF_TOTAL: Duration = Duration::from_millis(20);

/// What a queue's block holds: each typed queue opens only its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain = 1,
    Joinable = 2,
    Simple = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "Queue",
            Kind::Joinable => "JoinableQueue",
            Kind::Simple => "SimpleQueue",
        }
    }
}

/// Why a raw put failed.
#[derive(Debug)]
pub(crate) enum PutFail {
    Full(Limit),
    Closed,
    Disconnected,
    TooLarge { len: u64, max: u64 },
    Broken(io::Error),
}

/// Why a raw get failed.
#[derive(Debug)]
pub(crate) enum GetFail {
    Empty,
    Closed,
    Disconnected,
    TooLarge { len: u64, max: u64 },
    Broken(io::Error),
}

fn broken(e: RingError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn lock_broken(e: LockFail) -> io::Error {
    match e {
        LockFail::Unavailable => io::Error::new(
            io::ErrorKind::Unsupported,
            "the queue's locks are unavailable to this thread: the kernel refused its \
             robust-futex list (set_robust_list; a seccomp filter?), or the thread is exiting",
        ),
        e => io::Error::other(format!("the queue's lock failed: {e:?}")),
    }
}

/// How a call waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Not for room or data (`try_` calls).
    Try,
    /// Until the deadline (`None`: forever).
    Until(Option<Instant>),
}

impl Wait {
    fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Try => Some(Instant::now()),
            Wait::Until(d) => d,
        }
    }

    fn passed(self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }
}

/// The producing side's state in this process. Its mutex is only taken holding the
/// producers' lock, so it is never contended for long.
struct Writer {
    ring: RingWriter<Arc<Ring>>,
    /// For waits while streaming (holding the lock).
    spin: Spin,
}

/// The consuming side's state in this process (as [`Writer`]).
struct Reader {
    ring: RingReader<Arc<Ring>>,
    spin: Spin,
    buf: Vec<u8>,
}

/// One process's handle on a queue's shared block.
pub(crate) struct RawQueue {
    ring: Arc<Ring>,
    kind: Kind,
    maxsize: u64,
    max_message: u64,
    writer: Mutex<Writer>,
    reader: Mutex<Reader>,
    /// The adaptive spins of waits for room and for data, taken without any lock: copied out
    /// for a wait and back after it.
    room_spin: Mutex<Spin>,
    data_spin: Mutex<Spin>,
    /// The name, for a named queue; its creating process unlinks it on drop unless kept.
    name: Option<String>,
    unlink_on_drop: std::sync::atomic::AtomicBool,
    /// This process's entry in the table of users.
    entry: crate::roles::Entry,
}

impl std::fmt::Debug for RawQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawQueue")
            .field("capacity", &self.ring.capacity())
            .field("maxsize", &self.maxsize)
            .field("max_message", &self.max_message)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a new queue is made with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) maxsize: u64,
    pub(crate) capacity: usize,
    pub(crate) max_message: u64,
    pub(crate) name: Option<String>,
    pub(crate) kind: Kind,
}

fn layout(capacity: usize) -> Layout {
    Layout {
        magic: MAGIC,
        version: VERSION,
        elem_size: 1,
        elem_align: 1,
        len: (RING + Ring::footprint(capacity)) as u64,
    }
}

/// This process's state of one side, from a mutex that is only ever taken holding that
/// side's robust lock, so never contended — except in a forked child whose parent had a thread
/// inside a call at the fork: the child's copy of the mutex stays locked, and its calls use
/// fresh state instead (everything that matters is reloaded from shared memory anyway).
enum Local<'a, T> {
    Held(MutexGuard<'a, T>),
    Fresh(T),
}

impl<T> std::ops::Deref for Local<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Local::Held(g) => g,
            Local::Fresh(t) => t,
        }
    }
}

impl<T> std::ops::DerefMut for Local<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match self {
            Local::Held(g) => g,
            Local::Fresh(t) => t,
        }
    }
}

fn local<T>(m: &Mutex<T>, fresh: impl FnOnce() -> T) -> Local<'_, T> {
    match m.try_lock() {
        Ok(g) => Local::Held(g),
        // What a panicking thread left is reloaded from shared memory at each message.
        Err(std::sync::TryLockError::Poisoned(p)) => Local::Held(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => Local::Fresh(fresh()),
    }
}

/// A spin budget copied out of its mutex (a fresh one if another thread has it).
fn spin_of(m: &Mutex<Spin>) -> Spin {
    *local(m, Spin::new)
}

fn spin_back(m: &Mutex<Spin>, spin: Spin) {
    if let Ok(mut g) = m.try_lock() {
        *g = spin;
    }
}

impl RawQueue {
    pub(crate) fn create(config: &Config) -> io::Result<RawQueue> {
        let cap = config.capacity;
        if !cap.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&cap) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "queue capacity {cap}: a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}"
                ),
            ));
        }
        if config.max_message == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a message cap of 0 bytes",
            ));
        }
        let payload = RING + Ring::footprint(cap);
        let init = |b: &SharedBlock| {
            let ok = b.init_robust_mutex(HEADER_LEN + WLOCK).is_ok()
                && b.init_robust_mutex(HEADER_LEN + RLOCK).is_ok();
            debug_assert!(ok, "the locks fit the control page");
            if let Ok(w) = b.atomic_u64(HEADER_LEN + MAXSIZE) {
                w.store(config.maxsize, Ordering::Relaxed);
            }
            if let Ok(w) = b.atomic_u64(HEADER_LEN + MAX_MESSAGE) {
                w.store(config.max_message, Ordering::Relaxed);
            }
            if let Ok(w) = b.atomic_u32(HEADER_LEN + KIND) {
                w.store(config.kind as u32, Ordering::Relaxed);
            }
        };
        let mut block = match &config.name {
            // A named block lives on a tmpfs with a size limit: commit it now (ENOSPC now,
            // never SIGBUS later).
            Some(name) => SharedBlock::create_named_with(Some(name), &layout(cap), payload, init)?,
            None => SharedBlock::create_anonymous_lazy_with("queue", &layout(cap), payload, init)?,
        };
        block.set_unlink_on_drop(false);
        let queue = Self::from_block(block, config.kind, config.name.is_some())?;
        queue.entry.enter(queue.block(), crate::roles::CREATOR);
        Ok(queue)
    }

    pub(crate) fn open(name: &str, kind: Kind) -> io::Result<RawQueue> {
        let (block, _) = SharedBlock::open_named(name, MAGIC, VERSION, (1, 1))?;
        Self::from_block(block, kind, false)
    }

    pub(crate) fn from_fd(fd: OwnedFd, kind: Kind) -> io::Result<RawQueue> {
        let (block, _) = SharedBlock::from_fd(fd, MAGIC, VERSION, (1, 1))?;
        Self::from_block(block, kind, false)
    }

    fn from_block(block: SharedBlock, kind: Kind, unlink_on_drop: bool) -> io::Result<RawQueue> {
        let found = block.atomic_u32(HEADER_LEN + KIND)?.load(Ordering::Relaxed);
        if found != kind as u32 {
            let what = [Kind::Plain, Kind::Joinable, Kind::Simple]
                .into_iter()
                .find(|k| *k as u32 == found)
                .map_or("something else", Kind::name);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("this is a {what}, not a {}", kind.name()),
            ));
        }
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a queue of a valid size");
        let cap = (block.size())
            .checked_sub(HEADER_LEN + RING + Ring::footprint(0))
            .ok_or_else(bad)?;
        // The limits are read once: a peer that rewrites them later changes nothing here.
        let maxsize = block
            .atomic_u64(HEADER_LEN + MAXSIZE)?
            .load(Ordering::Relaxed);
        let max_message = block
            .atomic_u64(HEADER_LEN + MAX_MESSAGE)?
            .load(Ordering::Relaxed)
            .clamp(1, 1 << 48);
        let name = block.name().map(str::to_owned);
        let ring = Arc::new(Ring::within(block, RING, cap).map_err(|_| bad())?);
        Ok(RawQueue {
            writer: Mutex::new(Writer {
                ring: RingWriter::new(ring.clone()),
                spin: Spin::new(),
            }),
            reader: Mutex::new(Reader {
                ring: RingReader::new(ring.clone()),
                spin: Spin::new(),
                buf: Vec::new(),
            }),
            room_spin: Mutex::new(Spin::new()),
            data_spin: Mutex::new(Spin::new()),
            ring,
            kind,
            maxsize,
            max_message,
            name,
            unlink_on_drop: std::sync::atomic::AtomicBool::new(unlink_on_drop),
            entry: crate::roles::Entry::default(),
        })
    }

    fn block(&self) -> &SharedBlock {
        self.ring.block()
    }

    fn writer_state(&self) -> Local<'_, Writer> {
        local(&self.writer, || Writer {
            ring: RingWriter::new(self.ring.clone()),
            spin: Spin::new(),
        })
    }

    fn reader_state(&self) -> Local<'_, Reader> {
        local(&self.reader, || Reader {
            ring: RingReader::new(self.ring.clone()),
            spin: Spin::new(),
            buf: Vec::new(),
        })
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        self.block()
            .atomic_u32(HEADER_LEN + off)
            .expect("inside the control page: checked at creation")
    }

    fn lock_at(&self, off: usize) -> &RobustMutex {
        self.block()
            .robust_mutex(HEADER_LEN + off)
            .expect("inside the control page: checked at creation")
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    pub(crate) fn maxsize(&self) -> u64 {
        self.maxsize
    }

    pub(crate) fn max_message(&self) -> u64 {
        self.max_message
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn keep(&self) {
        self.unlink_on_drop.store(false, Ordering::Relaxed);
        self.block()
            .header()
            .set_flag(multiproc_internal::block::FLAG_PERSIST, true);
    }

    pub(crate) fn unlink(&self) -> io::Result<()> {
        self.unlink_on_drop.store(false, Ordering::Relaxed);
        let name = self.name.as_deref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "an anonymous queue has no name",
            )
        })?;
        let (dev, ino) = self
            .block()
            .identity()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no identity"))?;
        multiproc_internal::block::unlink_if_same(name, dev, ino)
    }

    /// Whole messages waiting (a streamed message counts once it is all in).
    pub(crate) fn len(&self) -> u64 {
        self.ring.messages()
    }

    /// Whether a put would find the queue full now (count or bytes).
    pub(crate) fn is_full(&self) -> bool {
        if self.maxsize != 0 && self.len() >= self.maxsize {
            return true;
        }
        let (head, tail) = self.ring.positions();
        let used = head.wrapping_sub(tail);
        used > self.capacity() as u64 || self.capacity() as u64 - used < 64
    }

    fn has_data(&self) -> bool {
        let (head, tail) = self.ring.positions();
        head != tail
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.word(CLOSED).load(Ordering::Acquire) != 0
    }

    /// Closes the queue for every process: later puts fail; gets take what is left, then fail.
    pub(crate) fn close(&self) {
        self.word(CLOSED).store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        for (seq, flag) in [(DATA_SEQ, CONSUMER_SLEEPS), (ROOM_SEQ, PRODUCER_SLEEPS)] {
            self.word(flag).store(0, Ordering::SeqCst);
            self.word(seq).fetch_add(1, Ordering::SeqCst);
            futex::wake_all(self.word(seq));
        }
    }

    /// Wakes the sleepers of one side if any said they sleep (`seq`, `flag`: that side's
    /// words). The flag is cleared by whoever wakes, so one wake-up goes per sleep.
    fn notify(&self, seq: usize, flag: usize) {
        fence(Ordering::SeqCst);
        let flag = self.word(flag);
        if flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::SeqCst) != 0 {
            let seq = self.word(seq);
            seq.fetch_add(1, Ordering::SeqCst);
            futex::wake_all(seq);
        }
    }

    fn notify_data(&self) {
        self.notify(DATA_SEQ, CONSUMER_SLEEPS);
    }

    fn notify_room(&self) {
        self.notify(ROOM_SEQ, PRODUCER_SLEEPS);
    }

    /// Spins, then sleeps on `seq` (announcing it in `flag`), until `ready()`, the deadline,
    /// or at most `slice`; whether `ready()` was seen. (A caller that must notice the queue
    /// closing says so in `ready`.)
    fn wait_for(
        &self,
        spin: &mut Spin,
        seq: usize,
        flag: usize,
        deadline: Option<Instant>,
        slice: Duration,
        ready: impl Fn() -> bool,
    ) -> bool {
        if spin.spin_until(deadline, 16, &ready) {
            return true;
        }
        let seq = self.word(seq);
        // The sequence first, then the flag: a wake-up between the two bumps the sequence, so
        // the sleep below returns at once instead of missing it.
        let seen = seq.load(Ordering::SeqCst);
        self.word(flag).store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if ready() {
            return true;
        }
        let until = Instant::now() + slice;
        let until = deadline.map_or(until, |d| d.min(until));
        futex::wait(seq, seen, Deadline::from_instant(until));
        ready()
    }

    /// Takes a side's lock: how (`OwnerDied`: the caller repairs what the dead holder left),
    /// or `None` when not taken now (a `Try` whose holder waits for the other side, as `busy()`
    /// says, or is stuck; or the deadline).
    fn lock_side(
        &self,
        lock: &RobustMutex,
        wait: Wait,
        busy: impl Fn() -> bool,
    ) -> io::Result<Option<Acquired>> {
        // A non-waiting call waits for a lock held only for a copy, but not without end (a
        // holder stopped or stuck).
        let mut brief_until = None;
        loop {
            let got = match wait {
                Wait::Try => match lock.try_lock() {
                    Err(LockFail::WouldBlock) => {
                        if busy() {
                            return Ok(None);
                        }
                        // Held for a copy: worth a brief wait.
                        lock.lock(Deadline::after(BRIEF))
                    }
                    r => r,
                },
                Wait::Until(deadline) => {
                    let d = deadline.and_then(Deadline::from_instant);
                    lock.lock(d)
                }
            };
            match got {
                Ok(how) => return Ok(Some(how)),
                Err(LockFail::TimedOut) if matches!(wait, Wait::Try) => {
                    // (The clock is read only here: not on the uncontended path.)
                    let now = Instant::now();
                    if now >= *brief_until.get_or_insert(now + BRIEF_TOTAL - BRIEF) {
                        return Ok(None);
                    }
                }
                Err(LockFail::TimedOut) => return Ok(None),
                Err(e) => return Err(lock_broken(e)),
            }
        }
    }

    /// Repairs the producers' side after its lock's holder died: ends a message it left
    /// part-way into the ring. Called holding the producers' lock.
    fn repair_writer(&self, w: &mut RingWriter<Arc<Ring>>) {
        *w = RingWriter::new(self.ring.clone());
        if self.word(WRITER_STREAMING).load(Ordering::Acquire) != 0 {
            // Room for the abort record is always left by a streaming writer; if a hostile
            // peer took it, the consumers see the corruption.
            let _ = w.abort();
            self.word(WRITER_STREAMING).store(0, Ordering::Release);
        }
    }

    /// Puts one encoded message.
    pub(crate) fn put(&self, msg: &[u8], wait: Wait) -> Result<(), PutFail> {
        if msg.len() as u64 > self.max_message {
            return Err(PutFail::TooLarge {
                len: msg.len() as u64,
                max: self.max_message,
            });
        }
        let cap = self.capacity();
        let wlock = self.lock_at(WLOCK);
        self.entry.enter(self.block(), crate::roles::PRODUCER);
        loop {
            if self.is_closed() {
                return Err(PutFail::Closed);
            }
            let streaming = || self.word(WRITER_STREAMING).load(Ordering::Acquire) != 0;
            let Some(how) = self
                .lock_side(wlock, wait, streaming)
                .map_err(PutFail::Broken)?
            else {
                return Err(PutFail::Full(Limit::Bytes(cap)));
            };
            // Holding the producers' lock from here: every exit unlocks.
            let mut w = self.writer_state();
            if how == Acquired::OwnerDied {
                self.repair_writer(&mut w.ring);
            }
            // The consumers' position as of the decision that there is no room (before the
            // count is checked, for a count limit): if it moves after, the wait below sees it
            // (no wake-up lost in between). Read only when needed: its cache line is the
            // consumers'.
            let counted_at = (self.maxsize != 0).then(|| self.ring.positions().1);
            let outcome = self.put_locked(&mut w, msg, wait);
            let tail = counted_at.unwrap_or_else(|| w.ring.tail_seen());
            drop(w);
            wlock.unlock();
            match outcome {
                Ok(true) => {
                    self.notify_data();
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => {
                    self.notify_data();
                    return Err(e);
                }
            }
            // No room, or over the count: wait without the lock, then try again.
            let limit = if self.maxsize != 0 && self.len() >= self.maxsize {
                Limit::Count(self.maxsize as usize)
            } else {
                Limit::Bytes(cap)
            };
            if matches!(wait, Wait::Try) || wait.passed() {
                return Err(PutFail::Full(limit));
            }
            // Room shows as the consumers' position moving (or the queue closing).
            let moved = || self.ring.positions().1 != tail || self.is_closed();
            let mut spin = spin_of(&self.room_spin);
            let ready = self.wait_for(
                &mut spin,
                ROOM_SEQ,
                PRODUCER_SLEEPS,
                wait.deadline(),
                SLICE,
                moved,
            );
            spin_back(&self.room_spin, spin);
            if !ready && self.consumers_gone() {
                return Err(PutFail::Disconnected);
            }
        }
    }

    /// Whether every process that took from the queue has exited (and one did).
    fn consumers_gone(&self) -> bool {
        crate::roles::all_gone(self.block(), crate::roles::CONSUMER)
    }

    /// Whether every process that put to the queue, and the one that created it, has exited.
    fn producers_gone(&self) -> bool {
        crate::roles::all_gone(self.block(), crate::roles::PRODUCER | crate::roles::CREATOR)
    }

    /// With the producers' lock: `Ok(true)` when the message is in, `Ok(false)` when it must
    /// wait for room or count (nothing of it written).
    fn put_locked(&self, w: &mut Writer, msg: &[u8], wait: Wait) -> Result<bool, PutFail> {
        if self.is_closed() {
            return Err(PutFail::Closed);
        }
        if self.maxsize != 0 && self.len() >= self.maxsize {
            return Ok(false);
        }
        // A joinable queue counts the task before it can be taken (a consumer's `task_done`
        // must never find it uncounted), and uncounts it if it does not go in.
        let counted = self.kind == Kind::Joinable;
        if counted {
            self.unfinished().fetch_add(1, Ordering::SeqCst);
        }
        let done = self.push_locked(w, msg, wait);
        if counted && !matches!(done, Ok(true)) {
            self.unfinished().fetch_sub(1, Ordering::SeqCst);
        }
        done
    }

    fn push_locked(&self, w: &mut Writer, msg: &[u8], wait: Wait) -> Result<bool, PutFail> {
        if w.ring.fits_whole(msg.len()) {
            return match w.ring.try_push_whole(0, msg) {
                Ok(Push::Done) => Ok(true),
                Ok(Push::Full) => Ok(false),
                Err(e) => Err(PutFail::Broken(broken(e))),
            };
        }
        // Larger than the ring: it streams, and this producer keeps the lock until it is all
        // in (or abandoned at the deadline).
        if matches!(wait, Wait::Try) {
            return Ok(false);
        }
        self.word(WRITER_STREAMING).store(1, Ordering::Release);
        let deadline = wait.deadline();
        let result = loop {
            match w.ring.try_push(msg) {
                Ok(Push::Done) => break Ok(true),
                Ok(Push::Full) => {}
                Err(e) => {
                    // Not to be continued: the ring is broken for everyone anyway.
                    w.ring = RingWriter::new(self.ring.clone());
                    break Err(PutFail::Broken(broken(e)));
                }
            }
            // Parts are in: the consumers may be waiting for them.
            self.notify_data();
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Give up: the consumer drops what it took of it.
                let _ = w.ring.abort();
                break Err(PutFail::Full(Limit::Bytes(self.capacity())));
            }
            let Writer { ring, spin } = w;
            // The item is accepted: a close does not stop it (consumers drain it).
            let room = || ring.has_room().unwrap_or(true);
            if !self.wait_for(spin, ROOM_SEQ, PRODUCER_SLEEPS, deadline, SLICE, room)
                && self.consumers_gone()
            {
                let _ = ring.abort();
                break Err(PutFail::Disconnected);
            }
        };
        self.word(WRITER_STREAMING).store(0, Ordering::Release);
        result
    }

    /// Gets one message; `f` reads it from the buffer (or takes it: a buffer left with its
    /// capacity goes back to this handle, for reuse).
    pub(crate) fn get<R>(
        &self,
        wait: Wait,
        f: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> Result<R, GetFail> {
        let rlock = self.lock_at(RLOCK);
        self.entry.enter(self.block(), crate::roles::CONSUMER);
        loop {
            // Take the lock and look: an item waiting is the common case.
            let taking = || self.word(READER_STREAMING).load(Ordering::Acquire) != 0;
            let Some(how) = self
                .lock_side(rlock, wait, taking)
                .map_err(GetFail::Broken)?
            else {
                return Err(GetFail::Empty);
            };
            // Holding the consumers' lock from here: every exit unlocks.
            let mut r = self.reader_state();
            let skipping = self.word(READER_SKIPPING);
            if how == Acquired::OwnerDied {
                // The one before died: what it left of a message is dropped, by whichever
                // consumer comes next (the mark is shared).
                skipping.store(1, Ordering::Release);
                self.word(READER_STREAMING).store(0, Ordering::Release);
            }
            if skipping.load(Ordering::Acquire) != 0 {
                if !r.ring.is_skipping() {
                    r.ring = RingReader::new(self.ring.clone());
                    r.ring.resync();
                }
            } else if r.ring.is_skipping() {
                // Another consumer finished dropping it.
                r.ring.cancel_resync();
            }
            let outcome = self.get_locked(&mut r);
            if r.ring.is_skipping() != (skipping.load(Ordering::Relaxed) != 0) {
                skipping.store(u32::from(r.ring.is_skipping()), Ordering::Release);
            }
            match outcome {
                Ok(true) => {
                    let mut buf = std::mem::take(&mut r.buf);
                    drop(r);
                    rlock.unlock();
                    self.notify_room();
                    if self.word(CONSUMER_SLEEPS).load(Ordering::Relaxed) != 0 && self.has_data() {
                        // Pass the news on to another sleeping consumer.
                        self.notify_data();
                    }
                    // Decoded without the lock (a `Deserialize` that panics or dawdles holds
                    // up nobody); the buffer is kept for the next item if it is free.
                    let out = f(&mut buf);
                    if buf.capacity() != 0 && buf.capacity() <= KEEP_CAPACITY {
                        if let Ok(mut r) = self.reader.try_lock() {
                            if r.buf.capacity() == 0 {
                                r.buf = buf;
                            }
                        }
                    }
                    return Ok(out);
                }
                Ok(false) => {
                    drop(r);
                    rlock.unlock();
                    // Dropping what a dead producer or consumer left makes room too.
                    self.notify_room();
                }
                Err(e) => {
                    drop(r);
                    rlock.unlock();
                    return Err(e);
                }
            }
            // Nothing there: closed, or wait for data without the lock.
            if self.is_closed() {
                if self.has_data() {
                    continue;
                }
                // Drained — unless a put that passed its check before the close is still
                // copying in: then its item comes first.
                if self.producers_quiet() {
                    if self.has_data() {
                        continue;
                    }
                    return Err(GetFail::Closed);
                }
                let mut spin = spin_of(&self.data_spin);
                let has = || self.has_data() || self.producers_quiet();
                self.wait_for(
                    &mut spin,
                    DATA_SEQ,
                    CONSUMER_SLEEPS,
                    wait.deadline(),
                    BRIEF,
                    has,
                );
                continue;
            }
            if matches!(wait, Wait::Try) || wait.passed() {
                return Err(GetFail::Empty);
            }
            let has = || self.has_data() || self.is_closed();
            let mut spin = spin_of(&self.data_spin);
            let ready = self.wait_for(
                &mut spin,
                DATA_SEQ,
                CONSUMER_SLEEPS,
                wait.deadline(),
                SLICE,
                has,
            );
            spin_back(&self.data_spin, spin);
            if !ready && self.producers_gone() && !self.has_data() {
                return Err(GetFail::Disconnected);
            }
        }
    }

    /// With the consumers' lock: `Ok(true)` with a message in the buffer, `Ok(false)` if there
    /// was none to start. A message that streams is taken whole, however long its producer
    /// takes (a producer that dies is noticed within [`DEATH_CHECK`]).
    fn get_locked(&self, r: &mut Reader) -> Result<bool, GetFail> {
        let max = self.max_message;
        // Whether this call marked that it takes a streamed message (cleared at the end: the
        // mark's cache line is read by every producer, so it is only written when it changes).
        let mut marked = false;
        let result = loop {
            let Reader { ring, spin, buf } = r;
            match ring.try_pop(buf, max) {
                Ok(Pop::Message) => break Ok(true),
                Ok(Pop::Empty) if !ring.is_assembling() => {
                    if self.has_data() {
                        // The bounded work of one pop ran out: carry on.
                        continue;
                    }
                    break Ok(false);
                }
                Ok(Pop::Empty) => {}
                Err(RingError::TooLarge { len, max }) => break Err(GetFail::TooLarge { len, max }),
                Err(e) => break Err(GetFail::Broken(broken(e))),
            }
            // Part of a message taken: the producer may be waiting for the room.
            if !marked {
                self.word(READER_STREAMING).store(1, Ordering::Release);
                marked = true;
            }
            self.notify_room();
            let has = || self.has_data();
            if !self.wait_for(spin, DATA_SEQ, CONSUMER_SLEEPS, None, DEATH_CHECK, has) {
                self.producers_quiet();
            }
        };
        if marked {
            self.word(READER_STREAMING).store(0, Ordering::Release);
        }
        result
    }

    /// Whether no producer is inside a put (the producers' lock is free), repairing after a
    /// dead one: for a consumer that found the queue closed and empty, and for one waiting
    /// for the rest of an item (a producer that died holding the lock has its item ended,
    /// and the consumer then drops the parts).
    fn producers_quiet(&self) -> bool {
        let wlock = self.lock_at(WLOCK);
        match wlock.try_lock() {
            Ok(Acquired::OwnerDied) => {
                // Not this process's writer state: its mutex may be held by a thread waiting
                // for the lock this thread now holds.
                let mut w = RingWriter::new(self.ring.clone());
                self.repair_writer(&mut w);
                wlock.unlock();
                true
            }
            Ok(Acquired::Clean) => {
                wlock.unlock();
                true
            }
            Err(_) => false,
        }
    }
}

/// Joinable queues: the count of tasks put and not yet done.
impl RawQueue {
    fn unfinished(&self) -> &std::sync::atomic::AtomicU64 {
        self.block()
            .atomic_u64(HEADER_LEN + UNFINISHED)
            .expect("inside the control page: checked at creation")
    }

    /// Tasks put and not yet marked done.
    pub(crate) fn unfinished_tasks(&self) -> u64 {
        self.unfinished().load(Ordering::Acquire)
    }

    /// Marks one task done; `false` if none was unfinished. The last one wakes the joiners.
    pub(crate) fn task_done(&self) -> bool {
        let count = self.unfinished();
        let mut n = count.load(Ordering::Acquire);
        loop {
            if n == 0 || n > u64::MAX / 2 {
                return false;
            }
            match count.compare_exchange_weak(n, n - 1, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        if n == 1 {
            let seq = self.word(JOIN_SEQ);
            seq.fetch_add(1, Ordering::SeqCst);
            futex::wake_all(seq);
        }
        true
    }

    /// Waits until every task is done, or the deadline; whether they all are.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        let seq = self.word(JOIN_SEQ);
        loop {
            let seen = seq.load(Ordering::SeqCst);
            if self.unfinished_tasks() == 0 {
                return true;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            let until = now + SLICE;
            let until = deadline.map_or(until, |d| d.min(until));
            futex::wait(seq, seen, Deadline::from_instant(until));
        }
    }
}

impl AsFd for RawQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.block().fd()
    }
}

impl Drop for RawQueue {
    fn drop(&mut self) {
        if self.unlink_on_drop.load(Ordering::Relaxed) && self.block().is_creator() {
            let _ = self.unlink();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cap: usize) -> Config {
        Config {
            maxsize: 0,
            capacity: cap,
            max_message: DEFAULT_MAX_MESSAGE,
            name: None,
            kind: Kind::Plain,
        }
    }

    #[test]
    fn a_message_goes_through_and_counts() {
        let q = RawQueue::create(&config(MIN_CAPACITY)).unwrap();
        q.put(b"hello", Wait::Try).unwrap();
        assert_eq!(q.len(), 1);
        let got = q.get(Wait::Try, std::mem::take).unwrap();
        assert_eq!(got, b"hello");
        assert!(matches!(q.get(Wait::Try, |_| ()), Err(GetFail::Empty)));
    }
}
