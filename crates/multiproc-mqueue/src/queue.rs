//! `Queue<T>`: many producers and consumers in any processes, over a ring in shared memory.

use crate::error::{GetError, PutError};
use crate::raw::{Config, GetFail, Kind, PutFail, RawQueue, Wait};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::raw::{DEFAULT_CAPACITY, DEFAULT_MAX_MESSAGE, MAX_CAPACITY, MIN_CAPACITY};

/// An encoding buffer kept per thread, for reuse.
const KEEP_ENCODED: usize = 1 << 20;

thread_local! {
    static ENCODE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Encodes `item` and hands the bytes to `f`.
fn with_encoded<T: Serialize, R>(
    item: &T,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, postcard::Error> {
    ENCODE.with(|cell| {
        // A `Serialize` that itself puts to a queue gets a buffer of its own.
        let mut spare = Vec::new();
        let mut borrowed = cell.try_borrow_mut();
        let buf = match borrowed.as_mut() {
            Ok(b) => &mut **b,
            Err(_) => &mut spare,
        };
        let mut v = std::mem::take(buf);
        v.clear();
        let v = postcard::to_extend(item, v)?;
        let out = f(&v);
        if v.capacity() <= KEEP_ENCODED {
            *buf = v;
        }
        Ok(out)
    })
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GetError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(GetError::Decode(format!(
            "{} bytes left over after the item: not this queue's item type",
            rest.len()
        ))),
        Err(e) => Err(GetError::Decode(e.to_string())),
    }
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// A queue of `T` between processes: Python's `multiprocessing.Queue`.
///
/// Any number of processes put and get; each item arrives whole, exactly once, and in the
/// order its producer put it (items of different producers interleave). Items are encoded
/// with postcard on `put` — in the calling thread, with no feeder thread — and copied into a
/// ring in shared memory; [`get`](Queue::get) copies one out and decodes it.
///
/// # Limits
///
/// A queue holds at most `maxsize` items (0: no count limit) and at most its ring's
/// [`capacity`](Queue::capacity) in bytes (16 MiB by default, allocated as it is first used).
/// An item larger than the ring streams through it while a consumer takes it, so no item is
/// refused for its size below the message cap ([`max_message_size`](Queue::max_message_size),
/// 1 GiB by default). A full queue says which limit bound ([`Limit`](crate::Limit)).
///
/// # Sharing
///
/// `Clone` gives another handle in this process. A queue created before a fork is shared
/// with the child; one made with [`QueueBuilder::name`] is opened from any process with
/// [`Queue::open`]; one sent inside a message over a `multiproc-pipe` connection (it
/// implements `Serialize`), or by its fd ([`AsFd`], [`Queue::from_fd`]), reaches any process.
///
/// # When a process dies
///
/// A producer killed part-way through a put leaves nothing visible (or, for an item larger
/// than the ring, the parts already taken are dropped by the consumer taking it). A consumer
/// killed part-way through a get loses that one item; the others go on. Neither leaves the
/// queue stuck: the locks inside are robust.
///
/// Nobody waits forever for a process that is gone: a put waiting for room fails with
/// [`PutError::Disconnected`] (the item back) once every process that took from the queue has
/// exited, and a get waiting on an empty queue fails with [`GetError::Disconnected`] once
/// every process that put to it, and the one that created it, has exited (within a quarter of
/// a second or so). Processes count from their first put or get until they exit — dropping a
/// handle does not end it; [`close`](Queue::close) tells everyone at once.
///
/// # Example
///
/// ```
/// use multiproc_mqueue::Queue;
///
/// let q: Queue<(u32, String)> = Queue::new(0)?;
/// q.put((1, "one".to_string()))?;
/// assert_eq!(q.get()?, (1, "one".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T> {
    raw: Arc<RawQueue>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            raw: self.raw.clone(),
            _item: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.raw.len())
            .field("maxsize", &self.raw.maxsize())
            .field("capacity", &self.raw.capacity())
            .field("closed", &self.raw.is_closed())
            .field("name", &self.raw.name())
            .finish()
    }
}

/// Builds a [`Queue`]: limits, ring size and name.
#[derive(Debug, Clone)]
pub struct QueueBuilder<T> {
    config: Config,
    _item: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> QueueBuilder<T> {
    /// The most items the queue holds (0: no count limit, the default).
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        self.config.maxsize = maxsize as u64;
        self
    }

    /// The ring's size in bytes: a power of two from [`MIN_CAPACITY`] to [`MAX_CAPACITY`]
    /// (default [`DEFAULT_CAPACITY`]). Items larger than it still pass, streaming through.
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.config.capacity = bytes;
        self
    }

    /// The largest encoded item accepted, in bytes (default [`DEFAULT_MAX_MESSAGE`]). It
    /// bounds what a consumer allocates for one item.
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.config.max_message = bytes;
        self
    }

    /// A named queue, opened from other processes with [`Queue::open`]. The name is removed
    /// when the creating handle is dropped, unless [`Queue::keep`] is called.
    pub fn name(mut self, name: &str) -> Self {
        self.config.name = Some(name.to_owned());
        self
    }

    /// Creates the queue.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a capacity that is not a power of two in range, a zero message cap
    /// or a bad name; `AlreadyExists` for a name in use; OS errors creating the memory.
    pub fn build(self) -> io::Result<Queue<T>> {
        Ok(Queue::from_raw(RawQueue::create(&self.config)?))
    }

    /// Creates a [`JoinableQueue`](crate::JoinableQueue) with these settings.
    ///
    /// # Errors
    ///
    /// As [`build`](QueueBuilder::build).
    pub fn build_joinable(mut self) -> io::Result<crate::JoinableQueue<T>> {
        self.config.kind = Kind::Joinable;
        Ok(crate::JoinableQueue::from_queue(Queue::from_raw(
            RawQueue::create(&self.config)?,
        )))
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue holding at most `maxsize` items (0: no count limit), with the default ring
    /// size ([`DEFAULT_CAPACITY`]) and message cap.
    ///
    /// # Errors
    ///
    /// OS errors creating the shared memory.
    pub fn new(maxsize: usize) -> io::Result<Queue<T>> {
        Self::builder().maxsize(maxsize).build()
    }

    /// A builder for other limits, a ring size or a name.
    pub fn builder() -> QueueBuilder<T> {
        QueueBuilder {
            config: Config {
                maxsize: 0,
                capacity: DEFAULT_CAPACITY,
                max_message: DEFAULT_MAX_MESSAGE,
                name: None,
                kind: Kind::Plain,
            },
            _item: PhantomData,
        }
    }

    /// Opens a named queue (made with [`QueueBuilder::name`]) from any process.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is none; `InvalidData` if the name holds something else.
    pub fn open(name: &str) -> io::Result<Queue<T>> {
        Ok(Self::from_raw(RawQueue::open(name, Kind::Plain)?))
    }

    /// A queue from an fd received from another process ([`AsFd`] on the sending side).
    ///
    /// # Errors
    ///
    /// `InvalidData` if the fd is not a sealed multiproc queue.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Queue<T>> {
        Ok(Self::from_raw(RawQueue::from_fd(fd, Kind::Plain)?))
    }

    fn put_with(&self, item: T, wait: Wait) -> Result<(), PutError<T>> {
        let sent = with_encoded(&item, |bytes| self.raw.put(bytes, wait));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(fail)) => Err(put_fail(fail, item)),
            Err(e) => Err(PutError::Encode {
                item,
                reason: e.to_string(),
            }),
        }
    }

    /// Puts `item`, waiting as long as the queue is full.
    ///
    /// # Errors
    ///
    /// [`PutError::Closed`], [`PutError::Disconnected`] (every consumer has exited),
    /// [`PutError::TooLarge`], [`PutError::Encode`], [`PutError::Broken`]; the item comes back
    /// in each.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, Wait::Until(None))
    }

    /// Puts `item` if there is room now (Python's `put_nowait`). It never waits for room, but
    /// may wait up to 20 ms for another producer to finish copying its item in. An item
    /// larger than the ring only goes with [`put`](Queue::put) or
    /// [`put_timeout`](Queue::put_timeout).
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] saying which limit bound, and those of [`put`](Queue::put).
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, Wait::Try)
    }

    /// Puts `item`, waiting at most `timeout` for room. An item larger than the ring that
    /// has not gone through by then is abandoned (consumers drop the part they took).
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] after the timeout, and those of [`put`](Queue::put).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_with(item, Wait::Until(deadline_after(timeout)))
    }

    /// Puts `item`, waiting until `deadline` at most (see [`put_timeout`](Queue::put_timeout)).
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Queue::put_timeout).
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.put_with(item, Wait::Until(Some(deadline)))
    }

    fn get_with(&self, wait: Wait) -> Result<T, GetError> {
        match self.raw.get(wait, |buf| decode::<T>(buf)) {
            Ok(decoded) => decoded,
            Err(fail) => Err(get_fail(fail)),
        }
    }

    /// Takes the next item, waiting as long as the queue is empty.
    ///
    /// # Errors
    ///
    /// [`GetError::Closed`] once the queue is closed and drained; [`GetError::Disconnected`]
    /// once it is empty and every producer and the creator have exited; [`GetError::Decode`]
    /// for an item that is not a `T` (it is consumed); [`GetError::TooLarge`],
    /// [`GetError::Broken`].
    pub fn get(&self) -> Result<T, GetError> {
        self.get_with(Wait::Until(None))
    }

    /// Takes the next item if there is one now (Python's `get_nowait`). It never waits for
    /// an item to arrive, but an item larger than the ring that has started to arrive is
    /// taken whole, at its producer's pace (as Python's `get_nowait` reads a whole message);
    /// and it may wait up to 20 ms for another consumer to finish copying one out.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`], and those of [`get`](Queue::get).
    pub fn try_get(&self) -> Result<T, GetError> {
        self.get_with(Wait::Try)
    }

    /// Takes the next item, waiting at most `timeout` for one to start arriving. An item
    /// larger than the ring that has started to arrive is taken whole, at its producer's pace
    /// (a producer that dies is noticed within 50 ms).
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`] after the timeout, and those of [`get`](Queue::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_with(Wait::Until(deadline_after(timeout)))
    }

    /// Takes the next item, waiting until `deadline` at most (see
    /// [`get_timeout`](Queue::get_timeout)).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Queue::get_timeout).
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetError> {
        self.get_with(Wait::Until(Some(deadline)))
    }
}

fn put_fail<I>(fail: PutFail, item: I) -> PutError<I> {
    match fail {
        PutFail::Full(limit) => PutError::Full { item, limit },
        PutFail::Closed => PutError::Closed(item),
        PutFail::Disconnected => PutError::Disconnected(item),
        PutFail::TooLarge { len, max } => PutError::TooLarge { item, len, max },
        PutFail::Broken(error) => PutError::Broken { item, error },
    }
}

fn get_fail(fail: GetFail) -> GetError {
    match fail {
        GetFail::Empty => GetError::Empty,
        GetFail::Closed => GetError::Closed,
        GetFail::Disconnected => GetError::Disconnected,
        GetFail::TooLarge { len, max } => GetError::TooLarge { len, max },
        GetFail::Broken(e) => GetError::Broken(e),
    }
}

/// Bytes as they are, without the codec: for items that are bytes already (a serde `Vec<u8>`
/// is encoded and decoded byte by byte). Bytes put this way are taken with the `get_bytes`
/// methods; a typed get decodes them as an encoded `T`.
impl<T> Queue<T> {
    /// Puts `bytes` as one item, waiting as long as the queue is full.
    ///
    /// # Errors
    ///
    /// As [`put`](Queue::put) (the item in the error is `()`: the bytes stay yours).
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(), PutError<()>> {
        self.raw
            .put(bytes, Wait::Until(None))
            .map_err(|f| put_fail(f, ()))
    }

    /// Puts `bytes` if there is room now (see [`try_put`](Queue::try_put)).
    ///
    /// # Errors
    ///
    /// As [`try_put`](Queue::try_put).
    pub fn try_put_bytes(&self, bytes: &[u8]) -> Result<(), PutError<()>> {
        self.raw.put(bytes, Wait::Try).map_err(|f| put_fail(f, ()))
    }

    /// Puts `bytes`, waiting at most `timeout` for room (see
    /// [`put_timeout`](Queue::put_timeout)).
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Queue::put_timeout).
    pub fn put_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<(), PutError<()>> {
        self.raw
            .put(bytes, Wait::Until(deadline_after(timeout)))
            .map_err(|f| put_fail(f, ()))
    }

    /// Takes the next item's bytes, waiting as long as the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`get`](Queue::get), without `Decode`.
    pub fn get_bytes(&self) -> Result<Vec<u8>, GetError> {
        self.raw
            .get(Wait::Until(None), std::mem::take)
            .map_err(get_fail)
    }

    /// Takes the next item's bytes if there is one now (see [`try_get`](Queue::try_get)).
    ///
    /// # Errors
    ///
    /// As [`try_get`](Queue::try_get), without `Decode`.
    pub fn try_get_bytes(&self) -> Result<Vec<u8>, GetError> {
        self.raw.get(Wait::Try, std::mem::take).map_err(get_fail)
    }

    /// Takes the next item's bytes, waiting at most `timeout` (see
    /// [`get_timeout`](Queue::get_timeout)).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Queue::get_timeout), without `Decode`.
    pub fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, GetError> {
        self.raw
            .get(Wait::Until(deadline_after(timeout)), std::mem::take)
            .map_err(get_fail)
    }

    /// Takes the next item's bytes into `buf` (replacing its contents, reusing its memory),
    /// waiting as long as the queue is empty; returns their length.
    ///
    /// # Errors
    ///
    /// As [`get_bytes`](Queue::get_bytes).
    pub fn get_bytes_into(&self, buf: &mut Vec<u8>) -> Result<usize, GetError> {
        self.raw
            .get(Wait::Until(None), |got| {
                // The message's own buffer becomes the caller's: no copy. The caller's old
                // buffer goes back to the queue for the next message.
                std::mem::swap(got, buf);
                buf.len()
            })
            .map_err(get_fail)
    }
}

impl<T> Queue<T> {
    pub(crate) fn raw(&self) -> &RawQueue {
        &self.raw
    }

    pub(crate) fn from_raw(raw: RawQueue) -> Queue<T> {
        Queue {
            raw: Arc::new(raw),
            _item: PhantomData,
        }
    }

    /// Items waiting now (Python's `qsize`): exact while no process dies mid-call, and never
    /// counting an item larger than the ring before all of it is in. A process killed
    /// between moving and counting can leave it one too low (never too high).
    pub fn len(&self) -> usize {
        self.raw.len() as usize
    }

    /// Whether no item waits (Python's `empty`; reliable right after a `put` returns).
    pub fn is_empty(&self) -> bool {
        self.raw.len() == 0
    }

    /// Whether a put would find the queue full now: `maxsize` items, or the ring's bytes
    /// taken (Python's `full`).
    pub fn is_full(&self) -> bool {
        self.raw.is_full()
    }

    /// The most items the queue holds (0: no count limit).
    pub fn maxsize(&self) -> usize {
        self.raw.maxsize() as usize
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// The largest encoded item accepted, in bytes.
    pub fn max_message_size(&self) -> u64 {
        self.raw.max_message()
    }

    /// Closes the queue, for every process that uses it: later puts fail with
    /// [`PutError::Closed`]; gets take what is left, then fail with [`GetError::Closed`].
    /// Waiting producers and consumers are woken. (Python's `close` only stops the calling
    /// process's puts; here it is how producers tell consumers they are done.)
    pub fn close(&self) {
        self.raw.close();
    }

    /// Whether the queue has been closed.
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }

    /// The name of a named queue.
    pub fn name(&self) -> Option<&str> {
        self.raw.name()
    }

    /// Keeps a named queue after its creating handle is dropped.
    pub fn keep(&self) {
        self.raw.keep();
    }

    /// Removes a named queue's name; every handle keeps working.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an anonymous queue; `NotFound` if already removed.
    pub fn unlink(&self) -> io::Result<()> {
        self.raw.unlink()
    }
}

impl<T> AsFd for Queue<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.raw.as_fd()
    }
}

impl<T: Serialize + DeserializeOwned> multiproc_internal::transfer::Transfer for Queue<T> {
    const TAG: [u8; 8] = *b"MPQUEUE\0";

    fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.as_fd())
    }

    fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: Serialize + DeserializeOwned] Queue<T>);
