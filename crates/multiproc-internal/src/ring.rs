//! A single-producer, single-consumer byte ring for messages, in a shared block: the core of
//! the pipe's shared-memory transport (and of the queue's).
//!
//! One process writes, one reads; each only moves its own position, so no lock is needed.
//! Messages are framed in records of an 8-byte header (`u32` length of the record's bytes,
//! `u32` kind) and the bytes, padded to 8. A message that fits in the free space goes as one
//! `WHOLE` record; a larger one streams through as `FIRST` (carrying the total length),
//! `MORE`… and `LAST` records, and the reader assembles it: a message is never presented until
//! all of it is there. Records may wrap around the end of the ring (copied in two parts).
//! A streamed message can be abandoned (`ABORT`: its writer gave up, or died and the next
//! writer ends it); a streaming writer always leaves room for that record. A reader taking over
//! from one that died mid-message skips the rest of it ([`RingReader::resync`]). Each side also
//! counts the whole messages it moved past, so [`Ring::messages`] tells how many wait.
//!
//! Several processes may share a side by taking turns under a lock of the caller's (the
//! queue's producers and consumers): each side reloads its position from the ring at each
//! message. A ring can live in a block of its own ([`Ring::new`]) or beside its user's control
//! data in a larger one ([`Ring::within`]).
//!
//! The other side is untrusted: every position, length and kind read from shared memory is
//! checked before use, and a violation is [`RingError::Corrupt`] — never an out-of-bounds
//! access, a panic, or an unbounded loop. Copies use the race-tolerant [`crate::copy`]
//! routines (through [`SharedBlock::load`]/[`SharedBlock::store`]); no reference to the shared
//! bytes is ever handed out.
//!
//! This module is non-blocking: `try_push` and `try_pop` say how far they got, and the
//! transport decides how to wait (spin, then sleep on an fd), using the waiting flags here.

use crate::block::{Layout, SharedBlock};
use std::io;
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const MAGIC: u64 = u64::from_le_bytes(*b"MPRING\0\0");
const VERSION: u32 = 1;

/// Payload offsets: each position on its own cache line (with the count of whole messages
/// that side has moved past), then the flags, then the data.
const HEAD: usize = 0;
const WRITTEN: usize = 8;
const TAIL: usize = 64;
const READ: usize = 72;
const READER_WAITING: usize = 128;
const WRITER_WAITING: usize = 132;
const DATA: usize = 256;

const RECORD_HEADER: usize = 8;
const WHOLE: u32 = 1;
const FIRST: u32 = 2;
const MORE: u32 = 3;
const LAST: u32 = 4;
/// The streamed message before it is abandoned (its writer gave up or died): the reader drops
/// what it assembled. No bytes, no tag.
const ABORT: u32 = 5;
/// A record's kind word: the kind in the low 16 bits, the message's tag in the high 16 (on
/// `WHOLE` and `FIRST` records; zero on the others).
const KIND_MASK: u32 = 0xffff;
const TAG_SHIFT: u32 = 16;
/// A `FIRST` record's bytes start with the message's total length.
const TOTAL: usize = 8;
/// The writer does not start a record into less free space than this (no dribbling).
const MIN_CHUNK: usize = 64;
/// A message streamed through the ring goes in parts of at least a quarter of the ring (or
/// what is left of it): fewer, larger copies, and a reader and writer that take turns less
/// often.
const STREAM_PART_DIVISOR: usize = 4;
/// A streamed message's buffer is reserved whole up to this size when its first part comes;
/// past it, it grows with what arrives (an announcement alone commits no more than this).
const EAGER_RESERVE: usize = 16 << 20;

/// The smallest and largest ring capacities.
pub const MIN_CAPACITY: usize = 4096;
/// The largest ring capacity (1 GiB).
pub const MAX_CAPACITY: usize = 1 << 30;

fn pad8(n: usize) -> usize {
    n.next_multiple_of(8)
}

/// Why a ring operation failed.
#[derive(Debug)]
pub enum RingError {
    /// What was read from shared memory breaks the ring's rules (a corrupted or hostile
    /// peer): the ring cannot be used any more.
    Corrupt(String),
    /// `try_push` with another message than the one whose push is under way (a caller's
    /// mistake; nothing was written).
    WrongMessage,
    /// The peer announced a message larger than the reader's maximum.
    TooLarge {
        /// The announced length.
        len: u64,
        /// The maximum.
        max: u64,
    },
}

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingError::Corrupt(why) => write!(f, "the shared ring is corrupt: {why}"),
            RingError::WrongMessage => {
                f.write_str("another message pushed while one was under way")
            }
            RingError::TooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes announced, over the maximum of {max}"
                )
            }
        }
    }
}

impl std::error::Error for RingError {}

fn corrupt(why: impl Into<String>) -> RingError {
    RingError::Corrupt(why.into())
}

/// The shared part: a block holding the positions, the waiting flags and the data.
#[derive(Debug)]
pub struct Ring {
    block: SharedBlock,
    cap: usize,
    /// Where the ring's part starts in the block (a ring may share its block with the
    /// control data of what it serves, see [`Ring::within`]).
    base: usize,
}

impl Ring {
    fn layout(cap: usize) -> Layout {
        Layout {
            magic: MAGIC,
            version: VERSION,
            elem_size: 1,
            elem_align: 1,
            len: (DATA + cap) as u64,
        }
    }

    /// A new ring of `capacity` data bytes (a power of two between [`MIN_CAPACITY`] and
    /// [`MAX_CAPACITY`]), in a sealed memfd.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad capacity; OS errors creating the block.
    pub fn new(capacity: usize) -> io::Result<Ring> {
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(crate::errno::invalid_input(format!(
                "ring capacity {capacity}: a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}"
            )));
        }
        let block =
            SharedBlock::create_anonymous("ring", &Self::layout(capacity), DATA + capacity)?;
        Ok(Ring {
            block,
            cap: capacity,
            base: crate::block::HEADER_LEN,
        })
    }

    /// The bytes a ring of `capacity` takes in a block (see [`Ring::within`]).
    pub fn footprint(capacity: usize) -> usize {
        DATA + capacity
    }

    /// A ring of `capacity` data bytes at payload offset `offset` of `block`, which holds other
    /// things of the caller's beside it: [`footprint`](Ring::footprint) bytes from `offset`
    /// (64-byte aligned), zeroed at creation, that nothing else touches.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad capacity or offset, or a block too small.
    pub fn within(block: SharedBlock, offset: usize, capacity: usize) -> io::Result<Ring> {
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(crate::errno::invalid_input(format!(
                "ring capacity {capacity}: a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}"
            )));
        }
        let base = crate::block::HEADER_LEN
            .checked_add(offset)
            .filter(|b| b % 64 == 0)
            .ok_or_else(|| crate::errno::invalid_input("ring offset not 64-byte aligned"))?;
        if base
            .checked_add(Self::footprint(capacity))
            .is_none_or(|end| end > block.size())
        {
            return Err(crate::errno::invalid_input(format!(
                "a ring of {capacity} bytes at offset {offset} does not fit a block of {} bytes",
                block.size()
            )));
        }
        Ok(Ring {
            block,
            cap: capacity,
            base,
        })
    }

    /// The ring behind an fd received from the other side.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the fd is not a sealed multiproc ring of a valid capacity.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Ring> {
        let (block, len) = SharedBlock::from_fd(fd, MAGIC, VERSION, (1, 1))?;
        let cap = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_sub(DATA))
            .filter(|c| c.is_power_of_two() && (MIN_CAPACITY..=MAX_CAPACITY).contains(c))
            .ok_or_else(|| crate::errno::invalid_data("not a ring of a valid capacity"))?;
        Ok(Ring {
            block,
            cap,
            base: crate::block::HEADER_LEN,
        })
    }

    /// The data capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The block, to hand its fd to the other side.
    pub fn block(&self) -> &SharedBlock {
        &self.block
    }

    fn word(&self, off: usize) -> &AtomicU64 {
        self.block
            .atomic_u64(self.base + off)
            .expect("inside the block: checked at creation")
    }

    fn flag(&self, off: usize) -> &AtomicU32 {
        self.block
            .atomic_u32(self.base + off)
            .expect("inside the block: checked at creation")
    }

    /// Copies `data` into the ring at position `pos` (wrapping).
    fn put(&self, pos: u64, data: &[u8]) {
        let at = (pos as usize) & (self.cap - 1);
        let first = data.len().min(self.cap - at);
        let base = self.base + DATA;
        let mut ok = self.block.store(base + at, &data[..first]);
        if first < data.len() {
            ok &= self.block.store(base, &data[first..]);
        }
        debug_assert!(ok, "ring copies stay inside the block");
    }

    /// Copies `out.len()` bytes out of the ring from position `pos` (wrapping).
    fn get(&self, pos: u64, out: &mut [u8]) {
        let at = (pos as usize) & (self.cap - 1);
        let first = out.len().min(self.cap - at);
        let base = self.base + DATA;
        let (a, b) = out.split_at_mut(first);
        let mut ok = self.block.load(base + at, a);
        if !b.is_empty() {
            ok &= self.block.load(base, b);
        }
        debug_assert!(ok, "ring copies stay inside the block");
    }

    /// Appends `n` bytes of the ring from position `pos` (wrapping) to `out`.
    fn get_append(&self, pos: u64, n: usize, out: &mut Vec<u8>) {
        let at = (pos as usize) & (self.cap - 1);
        let first = n.min(self.cap - at);
        let base = self.base + DATA;
        let mut ok = self.block.load_append(base + at, first, out);
        if first < n {
            ok &= self.block.load_append(base, n - first, out);
        }
        debug_assert!(ok, "ring copies stay inside the block");
    }

    /// Whole messages published and not yet taken (or dropped by a reader resynchronising), as
    /// the two sides' counts say: exact while both live; a side that died between moving its
    /// position and its count leaves it one too low for good, never too high. Clamped to
    /// what the ring can hold.
    pub fn messages(&self) -> u64 {
        let read = self.word(READ).load(Ordering::Acquire);
        let written = self.word(WRITTEN).load(Ordering::Acquire);
        let n = written.wrapping_sub(read);
        if n > u64::MAX / 2 {
            0
        } else {
            n.min((self.cap / RECORD_HEADER) as u64)
        }
    }

    /// The positions the writer and the reader published, in bytes since the start (as read:
    /// untrusted, for noticing progress and for estimates only).
    pub fn positions(&self) -> (u64, u64) {
        (
            self.word(HEAD).load(Ordering::Acquire),
            self.word(TAIL).load(Ordering::Acquire),
        )
    }

    /// The writing side, borrowing the ring. Exactly one process may write.
    pub fn writer(&self) -> RingWriter<&Ring> {
        RingWriter::new(self)
    }

    /// The reading side, borrowing the ring. Exactly one process may read.
    pub fn reader(&self) -> RingReader<&Ring> {
        RingReader::new(self)
    }

    /// The reader announces it is about to sleep (the writer must then wake it after
    /// publishing); or that it is awake again.
    ///
    /// A full fence follows the store, so that the reader's next look at the ring cannot be
    /// ordered before it (else reader and writer could each miss the other's news).
    pub fn set_reader_waiting(&self, waiting: bool) {
        self.flag(READER_WAITING)
            .store(u32::from(waiting), Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    /// Whether the reader said it sleeps. A full fence precedes the load, so that the
    /// writer's publication cannot be ordered after it.
    pub fn reader_waiting(&self) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.flag(READER_WAITING).load(Ordering::SeqCst) != 0
    }

    /// The writer announces it waits for space; or that it is awake again.
    /// (Fenced as [`set_reader_waiting`](Ring::set_reader_waiting).)
    pub fn set_writer_waiting(&self, waiting: bool) {
        self.flag(WRITER_WAITING)
            .store(u32::from(waiting), Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    /// Whether the writer said it waits for space (fenced as
    /// [`reader_waiting`](Ring::reader_waiting)).
    pub fn writer_waiting(&self) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.flag(WRITER_WAITING).load(Ordering::SeqCst) != 0
    }

    /// For the writer, after publishing: whether the reader sleeps and must be woken. Clears
    /// the flag, so that one wake-up is sent per sleep (fenced as
    /// [`reader_waiting`](Ring::reader_waiting); the flag is only written when set).
    pub fn take_reader_waiting(&self) -> bool {
        Self::take(self.flag(READER_WAITING))
    }

    /// For the reader, after making room: whether the writer waits for space and must be
    /// woken. Clears the flag (as [`take_reader_waiting`](Ring::take_reader_waiting)).
    pub fn take_writer_waiting(&self) -> bool {
        Self::take(self.flag(WRITER_WAITING))
    }

    fn take(flag: &AtomicU32) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        flag.load(Ordering::SeqCst) != 0 && flag.swap(0, Ordering::SeqCst) != 0
    }
}

/// How far a push got.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    /// The whole message is in the ring.
    Done,
    /// The ring is full: part of the message (maybe none) is in; push the same message again
    /// once the reader has made room.
    Full,
}

/// The writing side of a ring: its own position, and the progress of a message that streams.
/// `R` holds the ring: a reference, an `Arc`, a `Box`.
#[derive(Debug)]
pub struct RingWriter<R: Deref<Target = Ring>> {
    ring: R,
    head: u64,
    /// The reader's position as last read (it only grows): re-read only when the space it
    /// leaves is not enough, so that the reader's cache line is not pulled over per message.
    tail_seen: u64,
    /// The current message's length and the bytes of it already in the ring, when it streams.
    sent: Option<(usize, usize)>,
    /// The free space the last push that returned [`Push::Full`] needs to make progress.
    waiting_for: usize,
}

impl<R: Deref<Target = Ring>> RingWriter<R> {
    /// The writing side of `ring`, from the position published in it (a writer handed over
    /// from another process continues where that one stopped).
    pub fn new(ring: R) -> Self {
        let head = ring.word(HEAD).load(Ordering::Relaxed);
        // The reader's real position: the ring may hold messages not yet read (never assume
        // it empty, or the first push could overwrite them).
        let tail = ring.word(TAIL).load(Ordering::Acquire);
        RingWriter {
            ring,
            head,
            tail_seen: tail,
            sent: None,
            waiting_for: RECORD_HEADER + TOTAL + MIN_CHUNK,
        }
    }

    /// The ring.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The reader's position as this writer last read it (at or before its last decision
    /// that the ring was full): a waiter for room compares the current one with it.
    pub fn tail_seen(&self) -> u64 {
        self.tail_seen
    }

    /// Whether a message is part-way into the ring (a push returned [`Push::Full`]).
    pub fn is_streaming(&self) -> bool {
        self.sent.is_some()
    }

    /// Whether the ring has room for at least a small record (the reader has made room since
    /// a push returned [`Push::Full`], as far as the reader's position tells).
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] if the reader's position is impossible.
    pub fn has_room(&self) -> Result<bool, RingError> {
        let tail = self.ring.word(TAIL).load(Ordering::Acquire);
        Ok(self.free_from(tail)? >= self.waiting_for)
    }

    /// The most a part of a streamed message takes (with its header): a quarter of the ring,
    /// so that the reader copies one part out while the writer copies the next in.
    fn part_max(&self) -> usize {
        self.ring.cap / STREAM_PART_DIVISOR
    }

    /// The free space worth starting a part of a streamed message in, `left` bytes of it to go.
    fn part_min(&self, left: usize) -> usize {
        (self.ring.cap / STREAM_PART_DIVISOR)
            .min(RECORD_HEADER + TOTAL + pad8(left))
            .max(RECORD_HEADER + TOTAL + MIN_CHUNK)
    }
    /// Free bytes given the reader's position `tail` (untrusted).
    fn free_from(&self, tail: u64) -> Result<usize, RingError> {
        // Positions only grow; they are compared with wrapping arithmetic, so that values
        // near `u64::MAX` from a hostile side cannot overflow anything.
        let used = Some(self.head.wrapping_sub(tail))
            .filter(|&u| u <= self.ring.cap as u64)
            .ok_or_else(|| corrupt(format!("read position {tail} against write {}", self.head)))?;
        Ok(self.ring.cap - used as usize)
    }

    /// Free bytes: from the reader's position as last seen if that leaves `need`, else as it
    /// is now.
    fn free(&mut self, need: usize) -> Result<usize, RingError> {
        if let Ok(free) = self.free_from(self.tail_seen) {
            if free >= need {
                return Ok(free);
            }
        }
        let tail = self.ring.word(TAIL).load(Ordering::Acquire);
        let free = self.free_from(tail)?;
        self.tail_seen = tail;
        Ok(free)
    }

    fn record(&mut self, kind: u32, parts: &[&[u8]]) {
        debug_assert!(kind & KIND_MASK != 0);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut header = [0u8; RECORD_HEADER];
        header[..4].copy_from_slice(&(len as u32).to_le_bytes());
        header[4..].copy_from_slice(&kind.to_le_bytes());
        self.ring.put(self.head, &header);
        let mut at = self.head.wrapping_add(RECORD_HEADER as u64);
        for p in parts {
            self.ring.put(at, p);
            at = at.wrapping_add(p.len() as u64);
        }
        self.head = self.head.wrapping_add((RECORD_HEADER + pad8(len)) as u64);
    }

    fn publish(&self) {
        self.ring.word(HEAD).store(self.head, Ordering::Release);
    }

    /// Publishes the record that completes a message, then counts the message (in this order:
    /// a writer dying between the two leaves the count low, never high).
    fn publish_message(&self) {
        self.publish();
        let written = self.ring.word(WRITTEN);
        written.store(
            written.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }

    /// Abandons the message part-way into the ring: an `ABORT` record tells the reader to drop
    /// the parts it took. Without a message of its own under way, the writer continues from
    /// the position published in the ring, for a message another writer of the ring left
    /// unfinished (it died): the caller knows there is one.
    ///
    /// A streaming writer always leaves room for this record, so it needs no waiting.
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] if the reader's position is impossible, or leaves no room.
    pub fn abort(&mut self) -> Result<(), RingError> {
        if self.sent.is_none() {
            self.head = self.ring.word(HEAD).load(Ordering::Relaxed);
        }
        if self.free(RECORD_HEADER)? < RECORD_HEADER {
            return Err(corrupt("no room for the end of an abandoned message"));
        }
        self.record(ABORT, &[]);
        self.sent = None;
        self.publish();
        Ok(())
    }

    /// Puts as much of `msg` into the ring as fits. Call again with the same message after
    /// [`Push::Full`] until [`Push::Done`]; a different message before then is a logic error
    /// of the caller (it would be spliced).
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] if the reader's position is impossible.
    pub fn try_push(&mut self, msg: &[u8]) -> Result<Push, RingError> {
        self.try_push_tagged(0, msg)
    }

    /// As [`try_push`](RingWriter::try_push), the message carrying `tag`, a number of the
    /// caller's that the reader gets with it ([`RingReader::tag`]).
    ///
    /// # Errors
    ///
    /// As [`try_push`](RingWriter::try_push).
    pub fn try_push_tagged(&mut self, tag: u16, msg: &[u8]) -> Result<Push, RingError> {
        let tagged = |kind: u32| kind | u32::from(tag) << TAG_SHIFT;
        if self.sent.is_none() {
            // Another process holding a copy of this writer may have written since (writers
            // taking turns): continue from the position published in the ring.
            self.head = self.ring.word(HEAD).load(Ordering::Relaxed);
        }
        loop {
            let need = match self.sent {
                None => RECORD_HEADER + pad8(msg.len()),
                Some((_, done)) => RECORD_HEADER + pad8(msg.len().saturating_sub(done)),
            };
            let free = self.free(need)?;
            match self.sent {
                None if RECORD_HEADER + pad8(msg.len()) <= free => {
                    self.record(tagged(WHOLE), &[msg]);
                    self.publish_message();
                    return Ok(Push::Done);
                }
                None => {
                    if free < self.part_min(msg.len()) {
                        self.waiting_for = self.part_min(msg.len());
                        return Ok(Push::Full);
                    }
                    // Room for an `ABORT` record stays free while the message streams.
                    let room = (free - 2 * RECORD_HEADER - TOTAL) & !7;
                    let n = room
                        .min(msg.len())
                        .min(self.part_max() - RECORD_HEADER - TOTAL);
                    let total = (msg.len() as u64).to_le_bytes();
                    self.record(tagged(FIRST), &[&total, &msg[..n]]);
                    self.sent = Some((msg.len(), n));
                }
                Some((len, _)) if len != msg.len() => {
                    return Err(RingError::WrongMessage);
                }
                Some((_, done)) => {
                    let left = msg.len() - done;
                    if RECORD_HEADER + pad8(left) <= free {
                        self.record(LAST, &[&msg[done..]]);
                        self.sent = None;
                        self.publish_message();
                        return Ok(Push::Done);
                    }
                    if free < self.part_min(left) {
                        self.waiting_for = self.part_min(left);
                        self.publish();
                        return Ok(Push::Full);
                    }
                    let n = ((free - 2 * RECORD_HEADER) & !7).min(self.part_max() - RECORD_HEADER);
                    self.record(MORE, &[&msg[done..done + n]]);
                    self.sent = Some((msg.len(), done + n));
                }
            }
            self.publish();
        }
    }
}

impl<R: Deref<Target = Ring>> RingWriter<R> {
    /// Puts `msg` into the ring only as one record, only if it fits now: [`Push::Full`] with
    /// nothing written otherwise (never for a message larger than the ring can ever take as
    /// one record: those only stream). For a caller that must not wait.
    ///
    /// # Errors
    ///
    /// [`RingError::WrongMessage`] while a streamed message is under way;
    /// [`RingError::Corrupt`] if the reader's position is impossible.
    pub fn try_push_whole(&mut self, tag: u16, msg: &[u8]) -> Result<Push, RingError> {
        if self.sent.is_some() {
            return Err(RingError::WrongMessage);
        }
        self.head = self.ring.word(HEAD).load(Ordering::Relaxed);
        let need = RECORD_HEADER + pad8(msg.len());
        if need > self.ring.cap || self.free(need)? < need {
            self.waiting_for = need.min(self.ring.cap);
            return Ok(Push::Full);
        }
        self.record(WHOLE | u32::from(tag) << TAG_SHIFT, &[msg]);
        self.publish_message();
        Ok(Push::Done)
    }

    /// Whether `len` bytes fit as one record in an empty ring (else they can only stream).
    pub fn fits_whole(&self, len: usize) -> bool {
        RECORD_HEADER + pad8(len) <= self.ring.cap
    }
}

/// How far a pop got.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop {
    /// A whole message is in the output vector.
    Message,
    /// No whole message yet (part of one may have been taken and is kept).
    Empty,
}

/// The reading side of a ring: its own position, and a message being assembled. `R` holds
/// the ring: a reference, an `Arc`, a `Box`.
#[derive(Debug)]
pub struct RingReader<R: Deref<Target = Ring>> {
    ring: R,
    tail: u64,
    /// The writer's position as last read: re-read only once everything before it is taken.
    head_seen: u64,
    /// A streaming message: its tag, announced total and the bytes so far.
    partial: Option<(u16, u64, Vec<u8>)>,
    /// The tag of the last message popped.
    tag: u16,
    /// Dropping the rest of a message another reader of the ring took part of (it died).
    skipping: bool,
}

impl<R: Deref<Target = Ring>> RingReader<R> {
    /// The reading side of `ring`, from the position published in it (a reader handed over
    /// from another process continues where that one stopped).
    pub fn new(ring: R) -> Self {
        let tail = ring.word(TAIL).load(Ordering::Relaxed);
        RingReader {
            ring,
            tail,
            head_seen: tail,
            partial: None,
            tag: 0,
            skipping: false,
        }
    }

    /// The ring.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The tag the last message popped was pushed with.
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// Whether part of a message has been taken and the rest has not come yet.
    pub fn is_assembling(&self) -> bool {
        self.partial.is_some()
    }

    /// Drops the part of a message taken so far (its writer is gone: the rest never comes).
    pub fn discard_partial(&mut self) {
        self.partial = None;
    }

    /// For a reader taking over from one that died part-way through a message: the rest of
    /// that message (continuation records up to its end) is dropped, and counted as taken,
    /// until the next message starts.
    pub fn resync(&mut self) {
        self.partial = None;
        self.skipping = true;
    }

    /// Whether it still drops the rest of a message after [`resync`](RingReader::resync).
    pub fn is_skipping(&self) -> bool {
        self.skipping
    }

    /// Stops dropping records after a [`resync`](RingReader::resync) (another reader of the
    /// ring finished dropping that message).
    pub fn cancel_resync(&mut self) {
        self.skipping = false;
    }

    /// The reading position: it moves whenever a pop takes bytes (and so makes room).
    pub fn position(&self) -> u64 {
        self.tail
    }

    /// Whether everything published, as far as this reader last looked, has been taken.
    pub fn caught_up(&self) -> bool {
        self.tail == self.head_seen
    }
    /// Bytes published and not yet read given the writer's position `head` (untrusted).
    fn available_from(&self, head: u64) -> Result<usize, RingError> {
        let used = Some(head.wrapping_sub(self.tail))
            .filter(|&u| u <= self.ring.cap as u64)
            .ok_or_else(|| corrupt(format!("write position {head} against read {}", self.tail)))?;
        Ok(used as usize)
    }

    /// Bytes published and not yet read: from the writer's position as last seen while that
    /// shows some, else as it is now.
    fn available(&mut self) -> Result<usize, RingError> {
        if let Ok(avail @ 1..) = self.available_from(self.head_seen) {
            return Ok(avail);
        }
        let head = self.ring.word(HEAD).load(Ordering::Acquire);
        let avail = self.available_from(head)?;
        self.head_seen = head;
        Ok(avail)
    }

    /// Whether a pop could find something: published bytes not yet read.
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] if the writer's position is impossible.
    pub fn has_data(&self) -> Result<bool, RingError> {
        let head = self.ring.word(HEAD).load(Ordering::Acquire);
        Ok(self.available_from(head)? > 0)
    }

    /// Takes the next whole message into `out` (cleared first) if there is one, records as
    /// they come otherwise. `max`: the largest message accepted.
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] for anything that breaks the ring's rules;
    /// [`RingError::TooLarge`] for an announcement over `max`. Either way the ring is done.
    pub fn try_pop(&mut self, out: &mut Vec<u8>, max: u64) -> Result<Pop, RingError> {
        if self.partial.is_none() {
            // Another process holding a copy of this reader may have read since (readers
            // taking turns): continue from the position published in the ring.
            let tail = self.ring.word(TAIL).load(Ordering::Relaxed);
            if tail != self.tail {
                self.tail = tail;
                self.head_seen = tail;
            }
        }
        // Bounded work per call: a writer that keeps publishing records cannot hold the
        // reader here (progress is kept for the next call).
        for _ in 0..self.ring.cap / RECORD_HEADER {
            let avail = self.available()?;
            if avail == 0 {
                return Ok(Pop::Empty);
            }
            if avail < RECORD_HEADER {
                return Err(corrupt(format!(
                    "{avail} bytes published: less than a record"
                )));
            }
            let mut header = [0u8; RECORD_HEADER];
            self.ring.get(self.tail, &mut header);
            let len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default()) as usize;
            let word = u32::from_le_bytes(header[4..].try_into().unwrap_or_default());
            let (kind, tag) = (word & KIND_MASK, (word >> TAG_SHIFT) as u16);
            if tag != 0 && !matches!(kind, WHOLE | FIRST) {
                return Err(corrupt(format!("a tag on a record of kind {kind}")));
            }
            if len > avail - RECORD_HEADER {
                return Err(corrupt(format!(
                    "a record of {len} bytes with {avail} bytes published"
                )));
            }
            let size = RECORD_HEADER + pad8(len);
            if size > avail {
                return Err(corrupt(format!(
                    "a record of {len} bytes with {avail} bytes published"
                )));
            }
            let body = self.tail.wrapping_add(RECORD_HEADER as u64);
            if kind == ABORT {
                if len != 0 {
                    return Err(corrupt("an abort record with bytes"));
                }
                // The message under way (if any) is abandoned.
                self.partial = None;
                self.skipping = false;
                self.consume(size, false);
                continue;
            }
            if self.skipping {
                match kind {
                    MORE | LAST => {
                        self.consume(size, kind == LAST);
                        self.skipping = kind != LAST;
                        continue;
                    }
                    _ => self.skipping = false,
                }
            }
            match (kind, self.partial.as_mut()) {
                (WHOLE, None) => {
                    if len as u64 > max {
                        return Err(RingError::TooLarge {
                            len: len as u64,
                            max,
                        });
                    }
                    out.clear();
                    self.ring.get_append(body, len, out);
                    self.consume(size, true);
                    self.tag = tag;
                    return Ok(Pop::Message);
                }
                (FIRST, None) => {
                    if len < TOTAL {
                        return Err(corrupt("a first record without its total"));
                    }
                    let mut total = [0u8; TOTAL];
                    self.ring.get(body, &mut total);
                    let total = u64::from_le_bytes(total);
                    if total > max {
                        return Err(RingError::TooLarge { len: total, max });
                    }
                    let chunk = len - TOTAL;
                    if chunk as u64 > total {
                        return Err(corrupt("a first record longer than its message"));
                    }
                    // Memory follows what arrived, not the announcement (past a bound). The
                    // caller's buffer is reused.
                    let mut bytes = std::mem::take(out);
                    bytes.clear();
                    bytes.reserve((total as usize).min(EAGER_RESERVE));
                    self.ring
                        .get_append(body.wrapping_add(TOTAL as u64), chunk, &mut bytes);
                    self.partial = Some((tag, total, bytes));
                    self.consume(size, false);
                }
                (MORE | LAST, Some(_)) if len == 0 => {
                    return Err(corrupt("an empty continuation record"));
                }
                (MORE | LAST, Some((_, total, bytes))) => {
                    let have = bytes.len();
                    if (have + len) as u64 > *total {
                        return Err(corrupt("records longer than their message"));
                    }
                    let need = have + len;
                    if need > bytes.capacity() {
                        // Doubling, but never past the announced total (itself within `max`).
                        let to = need.max(2 * bytes.capacity()).min(*total as usize);
                        bytes.reserve_exact(to - bytes.len());
                    }
                    self.ring.get_append(body, len, bytes);
                    self.consume(size, kind == LAST);
                    if kind == LAST {
                        let (tag, total, bytes) = self.partial.take().unwrap_or_default();
                        if bytes.len() as u64 != total {
                            return Err(corrupt("a message shorter than announced"));
                        }
                        *out = bytes;
                        self.tag = tag;
                        return Ok(Pop::Message);
                    }
                }
                (k, p) => {
                    return Err(corrupt(format!(
                        "record kind {k} {} a message in progress",
                        if p.is_some() { "inside" } else { "outside" }
                    )))
                }
            }
        }
        Ok(Pop::Empty)
    }

    /// Moves past a record; `ends` when it completes a message, which is counted first (a
    /// reader dying between the two leaves the count of messages in the ring low, never high).
    fn consume(&mut self, size: usize, ends: bool) {
        if ends {
            let read = self.ring.word(READ);
            read.store(
                read.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Release,
            );
        }
        self.tail = self.tail.wrapping_add(size as u64);
        self.ring.word(TAIL).store(self.tail, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    /// Pushes `msgs` from one thread and pops them in another, through a small ring.
    fn through(cap: usize, msgs: &[Vec<u8>]) {
        let ring = Ring::new(cap).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut w = ring.writer();
                for m in msgs {
                    while w.try_push(m).unwrap() == Push::Full {
                        std::thread::yield_now();
                    }
                }
            });
            let mut r = ring.reader();
            let mut out = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                while r.try_pop(&mut out, u64::MAX).unwrap() == Pop::Empty {
                    std::thread::yield_now();
                }
                assert!(out == *m, "message {i} of {} bytes differs", m.len());
            }
        });
    }

    #[test]
    fn messages_of_every_size_pass_through_a_small_ring_whole_and_in_order() {
        let sizes = [
            0,
            1,
            7,
            8,
            9,
            63,
            64,
            4087,
            4088,
            4089,
            4096,
            10_000,
            1 << 20,
        ];
        let msgs: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| pattern(n, i as u8))
            .collect();
        through(MIN_CAPACITY, &msgs);
        let many: Vec<Vec<u8>> = (0..20_000).map(|i| pattern(i % 300, i as u8)).collect();
        through(MIN_CAPACITY, &many);
    }

    #[test]
    fn another_message_mid_stream_is_refused_not_spliced() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut w = ring.writer();
        assert_eq!(w.try_push(&vec![1; 10_000]).unwrap(), Push::Full);
        assert!(matches!(w.try_push(&[2; 10]), Err(RingError::WrongMessage)));
        // The reader's memory for a streamed message stays within the announced total.
        let mut r = ring.reader();
        let mut out = Vec::new();
        let mut w2 = ring.writer();
        w2.sent = w.sent;
        w2.head = w.head;
        let msg = vec![1; 10_000];
        loop {
            match w2.try_push(&msg).unwrap() {
                Push::Done => break,
                Push::Full => assert_eq!(r.try_pop(&mut out, 10_000).unwrap(), Pop::Empty),
            }
        }
        assert_eq!(r.try_pop(&mut out, 10_000).unwrap(), Pop::Message);
        assert!(out == msg && out.capacity() <= 10_000, "{}", out.capacity());
    }

    #[test]
    fn tags_come_with_their_messages_streamed_or_whole() {
        let ring = std::sync::Arc::new(Ring::new(MIN_CAPACITY).unwrap());
        let mut w = RingWriter::new(ring.clone());
        let mut r = RingReader::new(ring);
        let mut out = Vec::new();
        assert_eq!(w.try_push_tagged(7, b"small").unwrap(), Push::Done);
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
        assert_eq!((r.tag(), out.as_slice()), (7, &b"small"[..]));
        let big = pattern(3 * MIN_CAPACITY, 3);
        let position = r.position();
        while w.try_push_tagged(u16::MAX, &big).unwrap() == Push::Full {
            assert!(w.is_streaming());
            assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Empty);
            assert!(r.is_assembling() && w.has_room().unwrap());
        }
        assert!(r.position() != position, "streaming moved the reader");
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
        assert!(r.tag() == u16::MAX && out == big && !w.is_streaming());
        // Untagged after tagged.
        assert_eq!(w.try_push(b"").unwrap(), Push::Done);
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
        assert_eq!(r.tag(), 0);
    }

    #[test]
    fn an_abandoned_message_is_dropped_whole_and_the_next_one_comes_through() {
        for len in [9_000, 12_345, 100_000] {
            let ring = Ring::new(MIN_CAPACITY).unwrap();
            let mut w = ring.writer();
            let mut r = ring.reader();
            let mut out = Vec::new();
            let big = pattern(len, 1);
            // Part of the message goes in, the reader takes some of it, then the writer gives
            // up: room for the abort record is always left.
            let mut rounds = 0;
            while rounds < 2 && w.try_push(&big).unwrap() == Push::Full {
                assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Empty);
                rounds += 1;
            }
            assert!(w.is_streaming());
            w.abort().unwrap();
            assert!(!w.is_streaming());
            assert_eq!(w.try_push(b"next").unwrap(), Push::Done);
            assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
            assert_eq!(out, b"next");
            assert!(!r.is_assembling());
            assert_eq!(ring.messages(), 0);
        }
    }

    #[test]
    fn a_writer_made_while_the_ring_holds_unread_messages_does_not_overwrite_them() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut first = ring.writer();
        let mut n = 0u8;
        while first.try_push_whole(0, &[n; 1000]).unwrap() == Push::Done {
            n += 1;
        }
        // A writer handed over (or taking turns) while the ring is full.
        let mut second = ring.writer();
        assert_eq!(second.try_push_whole(0, &[99; 100]).unwrap(), Push::Full);
        assert_eq!(second.try_push(&[99; 1000]).unwrap(), Push::Full);
        let mut r = ring.reader();
        let mut out = Vec::new();
        for i in 0..n {
            assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
            assert_eq!(out, [i; 1000]);
        }
    }

    #[test]
    fn a_whole_push_writes_all_or_nothing() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut w = ring.writer();
        let mut r = ring.reader();
        let mut out = Vec::new();
        assert!(w.fits_whole(MIN_CAPACITY - 8) && !w.fits_whole(MIN_CAPACITY - 7));
        assert_eq!(w.try_push_whole(1, &[0; MIN_CAPACITY]).unwrap(), Push::Full);
        assert_eq!(w.try_push_whole(1, &[1; 3000]).unwrap(), Push::Done);
        assert_eq!(w.try_push_whole(2, &[2; 3000]).unwrap(), Push::Full);
        assert_eq!(ring.messages(), 1);
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
        assert_eq!((r.tag(), out.len()), (1, 3000));
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Empty);
        assert_eq!(w.try_push_whole(2, &[2; 3000]).unwrap(), Push::Done);
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
        assert_eq!((r.tag(), out.len()), (2, 3000));
    }

    #[test]
    fn a_streaming_writer_always_leaves_room_to_abandon_its_message() {
        for fill in 0..200usize {
            let ring = Ring::new(MIN_CAPACITY).unwrap();
            let mut w = ring.writer();
            // Something already in the ring, of many sizes.
            assert_eq!(w.try_push(&pattern(fill * 17, 5)).unwrap(), Push::Done);
            let big = pattern(MIN_CAPACITY * 2 + fill, 6);
            if w.try_push(&big).unwrap() == Push::Full && w.is_streaming() {
                w.abort().unwrap();
            }
        }
    }

    #[test]
    fn a_writer_taking_over_from_a_dead_one_ends_its_message() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut dead = ring.writer();
        let mut r = ring.reader();
        let mut out = Vec::new();
        assert_eq!(dead.try_push(&pattern(9_000, 2)).unwrap(), Push::Full);
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Empty);
        assert!(r.is_assembling());
        let _ = dead; // The writer dies mid-message: nothing of it runs again.
        let mut next = ring.writer();
        next.abort().unwrap();
        assert_eq!(next.try_push(b"after").unwrap(), Push::Done);
        assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
        assert_eq!(out, b"after");
    }

    #[test]
    fn a_reader_taking_over_from_a_dead_one_skips_the_rest_of_its_message() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut out = Vec::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut w = ring.writer();
                for m in [pattern(20_000, 3), b"second".to_vec()] {
                    while w.try_push(&m).unwrap() == Push::Full {
                        std::thread::yield_now();
                    }
                }
            });
            let mut dead = ring.reader();
            while !dead.is_assembling() {
                assert_eq!(dead.try_pop(&mut out, u64::MAX).unwrap(), Pop::Empty);
                std::thread::yield_now();
            }
            let _ = dead; // The reader dies mid-message.
            let mut r = ring.reader();
            r.resync();
            while r.try_pop(&mut out, u64::MAX).unwrap() == Pop::Empty {
                std::thread::yield_now();
            }
            assert_eq!(out, b"second");
        });
        // The dropped message counts as taken.
        assert_eq!(ring.messages(), 0);
    }

    #[test]
    fn messages_counts_whole_messages_published_and_not_taken() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut w = ring.writer();
        let mut r = ring.reader();
        let mut out = Vec::new();
        for i in 0..10u8 {
            assert_eq!(w.try_push(&[i; 100]).unwrap(), Push::Done);
        }
        assert_eq!(ring.messages(), 10);
        // A message part-way in is not counted.
        let big = pattern(10_000, 4);
        assert_eq!(w.try_push(&big).unwrap(), Push::Full);
        assert_eq!(ring.messages(), 10);
        let mut got = 0;
        loop {
            match r.try_pop(&mut out, u64::MAX).unwrap() {
                Pop::Message => got += 1,
                Pop::Empty => {
                    if w.try_push(&big).unwrap() == Push::Done {
                        break;
                    }
                }
            }
        }
        assert_eq!(ring.messages(), 11 - got);
        while r.try_pop(&mut out, u64::MAX).unwrap() == Pop::Message {}
        assert_eq!(ring.messages(), 0);
        // Hostile counts are clamped.
        ring.word(WRITTEN).store(u64::MAX / 3, Ordering::Relaxed);
        assert_eq!(ring.messages(), (MIN_CAPACITY / RECORD_HEADER) as u64);
        ring.word(WRITTEN).store(0, Ordering::Relaxed);
        ring.word(READ).store(5, Ordering::Relaxed);
        assert_eq!(ring.messages(), 0);
    }

    #[test]
    fn a_ring_within_a_larger_block_keeps_to_its_part() {
        let layout = Layout {
            magic: 7,
            version: 1,
            elem_size: 1,
            elem_align: 1,
            len: 4096 + Ring::footprint(MIN_CAPACITY) as u64,
        };
        let block =
            SharedBlock::create_anonymous("test", &layout, 4096 + Ring::footprint(MIN_CAPACITY))
                .unwrap();
        block.fill(crate::block::HEADER_LEN, 4096, 0xee);
        assert!(Ring::within(block, 4, MIN_CAPACITY).is_err());
        let block =
            SharedBlock::create_anonymous("test", &layout, 4096 + Ring::footprint(MIN_CAPACITY))
                .unwrap();
        assert!(Ring::within(block, 4096 + 64, MIN_CAPACITY).is_err());
        let block =
            SharedBlock::create_anonymous("test", &layout, 4096 + Ring::footprint(MIN_CAPACITY))
                .unwrap();
        block.fill(crate::block::HEADER_LEN, 4096, 0xee);
        let ring = Ring::within(block, 4096, MIN_CAPACITY).unwrap();
        let msgs: Vec<Vec<u8>> = (0..500).map(|i| pattern(i * 37 % 5000, i as u8)).collect();
        let mut w = ring.writer();
        let mut r = ring.reader();
        let mut out = Vec::new();
        for m in &msgs {
            while w.try_push(m).unwrap() == Push::Full {
                assert_ne!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Message);
            }
            while r.try_pop(&mut out, u64::MAX).unwrap() == Pop::Empty {}
            assert!(out == *m);
        }
        let mut before = vec![0u8; 4096];
        ring.block().load(crate::block::HEADER_LEN, &mut before);
        assert!(
            before.iter().all(|&b| b == 0xee),
            "the ring wrote outside its part"
        );
    }

    #[test]
    fn only_one_wake_up_is_taken_per_sleep() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        assert!(!ring.take_reader_waiting() && !ring.take_writer_waiting());
        ring.set_reader_waiting(true);
        ring.set_writer_waiting(true);
        assert!(ring.take_reader_waiting() && !ring.take_reader_waiting());
        assert!(ring.take_writer_waiting() && !ring.writer_waiting());
    }

    #[test]
    fn bad_capacities_are_refused() {
        for cap in [0, 100, 2048, MIN_CAPACITY + 1, MAX_CAPACITY * 2] {
            assert!(Ring::new(cap).is_err(), "{cap}");
        }
    }

    #[test]
    fn the_reader_takes_nothing_over_its_maximum() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut w = ring.writer();
        assert_eq!(w.try_push(&[1; 100]).unwrap(), Push::Done);
        let mut r = ring.reader();
        assert!(matches!(
            r.try_pop(&mut Vec::new(), 99),
            Err(RingError::TooLarge { len: 100, max: 99 })
        ));
        // Streaming: refused at the announcement, before the bytes arrive.
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let mut w = ring.writer();
        assert_eq!(w.try_push(&vec![1; 1 << 20]).unwrap(), Push::Full);
        assert!(matches!(
            ring.reader().try_pop(&mut Vec::new(), 1000),
            Err(RingError::TooLarge { len, .. }) if len == 1 << 20
        ));
    }

    #[test]
    fn a_ring_travels_as_an_fd_and_a_wrong_fd_is_refused() {
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let other = Ring::from_fd(ring.block().fd().try_clone_to_owned().unwrap()).unwrap();
        assert_eq!(other.capacity(), MIN_CAPACITY);
        assert_eq!(ring.writer().try_push(b"across").unwrap(), Push::Done);
        let mut out = Vec::new();
        assert_eq!(other.reader().try_pop(&mut out, 100).unwrap(), Pop::Message);
        assert_eq!(out, b"across");
        let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        assert!(Ring::from_fd(file).is_err());
    }

    #[test]
    fn across_processes_and_a_writer_killed_mid_message_leaves_no_torn_message() {
        use crate::testing::{fork_child, until_asleep};
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let msgs: Vec<Vec<u8>> = (0..200)
            .map(|i| pattern(i * 997 % 70_000, i as u8))
            .collect();
        let child = fork_child(|| {
            let mut w = ring.writer();
            for m in &msgs {
                while w.try_push(m).unwrap() == Push::Full {
                    std::thread::yield_now();
                }
            }
            // Half of a large message, then nothing: the parent must never see it whole.
            let big = pattern(1 << 20, 7);
            while w.try_push(&big).unwrap() == Push::Full {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        let mut r = ring.reader();
        let mut out = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while r.try_pop(&mut out, u64::MAX).unwrap() == Pop::Empty {
                assert!(
                    std::time::Instant::now() < deadline,
                    "message {i} never came"
                );
                std::thread::yield_now();
            }
            assert!(out == *m, "message {i} differs");
        }
        // The writer streams the large message and waits for room: take what is there, then
        // kill it while it sleeps.
        for _ in 0..10 {
            assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Empty);
        }
        until_asleep(child.pid());
        child.kill().unwrap();
        child.wait();
        for _ in 0..100 {
            assert_eq!(r.try_pop(&mut out, u64::MAX).unwrap(), Pop::Empty);
        }
    }

    /// Cheap deterministic randomness (xorshift).
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn a_hostile_writer_scribbling_over_the_ring_yields_only_errors() {
        let iterations: u64 = 1_000_000;
        let ring = Ring::new(MIN_CAPACITY).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut st = 0x9e37_79b9_7f4a_7c15u64;
                for i in 0..iterations {
                    let v = rng(&mut st);
                    match v % 5 {
                        // The reader's position too (a fresh reader starts from it), near
                        // u64::MAX at times.
                        4 => ring
                            .word(TAIL)
                            .store(v | (u64::MAX << 40), Ordering::Release),
                        // The writer's position: anywhere, sometimes plausible.
                        0 => ring.word(HEAD).store(
                            if i % 2 == 0 {
                                v
                            } else {
                                v % (2 * MIN_CAPACITY as u64)
                            },
                            Ordering::Release,
                        ),
                        // A record header or data anywhere.
                        1 | 2 => ring.put(v >> 20, &v.to_le_bytes()),
                        // An honest-looking record.
                        _ => {
                            let mut w = ring.writer();
                            let _ = w.try_push(&v.to_le_bytes()[..(v % 9) as usize]);
                        }
                    }
                }
                stop.store(true, Ordering::Release);
            });
            let mut out = Vec::new();
            let (mut messages, mut errors) = (0u64, 0u64);
            while !stop.load(Ordering::Acquire) {
                // A fresh reader each time: after an error the ring is done, as a transport
                // would treat it; here the next round starts over.
                let mut r = ring.reader();
                for _ in 0..64 {
                    match r.try_pop(&mut out, 1 << 16) {
                        Ok(Pop::Message) => messages += 1,
                        Ok(Pop::Empty) => {}
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                    assert!(out.len() <= 1 << 16);
                }
            }
            assert!(
                errors > 0,
                "the scribbling was never noticed ({messages} messages)"
            );
        });
    }
}
