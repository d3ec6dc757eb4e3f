//! `JoinableQueue<T>` (tasks marked done, and waiting for all of them) and `SimpleQueue<T>`.

use crate::error::{GetError, PutError};
use crate::queue::{Queue, QueueBuilder};
use crate::raw::{Kind, RawQueue};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// [`JoinableQueue::task_done`] was called more times than items were put: Python's
/// `ValueError: task_done() called too many times`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were put")
    }
}

impl std::error::Error for TaskDoneError {}

/// A [`Queue`] whose consumers mark each item done, so that a producer can wait for all of
/// them to be handled: Python's `multiprocessing.JoinableQueue`.
///
/// It dereferences to [`Queue`] for `put`, `get` and the rest. Every successful put counts a
/// task (before the item can be taken); [`task_done`](JoinableQueue::task_done) uncounts one;
/// [`join`](JoinableQueue::join) waits for the count to reach zero.
///
/// A consumer killed between `get` and `task_done` leaves its task unfinished for good, and
/// `join` would wait forever: use [`join_timeout`](JoinableQueue::join_timeout) where a
/// consumer may die. (A producer killed inside `put` can leave one task counted likewise.)
///
/// ```
/// use multiproc_mqueue::JoinableQueue;
///
/// let q: JoinableQueue<u32> = JoinableQueue::new(0)?;
/// q.put(1)?;
/// assert_eq!(q.unfinished_tasks(), 1);
/// assert_eq!(q.get()?, 1);
/// q.task_done()?;
/// q.join(); // every task is done
/// assert!(q.task_done().is_err()); // one too many
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished_tasks", &self.queue.raw().unfinished_tasks())
            .finish()
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue holding at most `maxsize` items (0: no count limit). Other settings:
    /// [`QueueBuilder::build_joinable`].
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    pub fn new(maxsize: usize) -> io::Result<JoinableQueue<T>> {
        Queue::<T>::builder().maxsize(maxsize).build_joinable()
    }

    /// A builder (finish with [`QueueBuilder::build_joinable`]).
    pub fn builder() -> QueueBuilder<T> {
        Queue::<T>::builder()
    }

    /// Opens a named joinable queue.
    ///
    /// # Errors
    ///
    /// As [`Queue::open`]; `InvalidData` for a queue of another kind.
    pub fn open(name: &str) -> io::Result<JoinableQueue<T>> {
        Ok(Self::from_queue(Queue::from_raw(RawQueue::open(
            name,
            Kind::Joinable,
        )?)))
    }

    /// A joinable queue from an fd received from another process.
    ///
    /// # Errors
    ///
    /// As [`Queue::from_fd`]; `InvalidData` for a queue of another kind.
    pub fn from_fd(fd: OwnedFd) -> io::Result<JoinableQueue<T>> {
        Ok(Self::from_queue(Queue::from_raw(RawQueue::from_fd(
            fd,
            Kind::Joinable,
        )?)))
    }
}

impl<T> JoinableQueue<T> {
    pub(crate) fn from_queue(queue: Queue<T>) -> JoinableQueue<T> {
        JoinableQueue { queue }
    }

    /// Marks one item taken from the queue as handled. When none is left unfinished, every
    /// [`join`](JoinableQueue::join) returns.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] if no task is unfinished (called more times than items were put).
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.queue.raw().task_done() {
            Ok(())
        } else {
            Err(TaskDoneError)
        }
    }

    /// Items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> u64 {
        self.queue.raw().unfinished_tasks()
    }

    /// Waits until every item put has been marked done.
    pub fn join(&self) {
        self.queue.raw().join(None);
    }

    /// Waits at most `timeout` for every item put to be marked done; whether they all are.
    #[must_use = "false means tasks are still unfinished"]
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.queue.raw().join(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline` at most (see [`join_timeout`](JoinableQueue::join_timeout)).
    #[must_use = "false means tasks are still unfinished"]
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.queue.raw().join(Some(deadline))
    }
}

impl<T> AsFd for JoinableQueue<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.queue.as_fd()
    }
}

impl<T: Serialize + DeserializeOwned> multiproc_internal::transfer::Transfer for JoinableQueue<T> {
    const TAG: [u8; 8] = *b"MPJQUEUE";

    fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.as_fd())
    }

    fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: Serialize + DeserializeOwned] JoinableQueue<T>);

/// The plainest queue: put and get, no limit on the count, no timeouts — Python's
/// `multiprocessing.SimpleQueue`. (Over the same ring as [`Queue`], which has everything
/// else.)
///
/// ```
/// use multiproc_mqueue::SimpleQueue;
///
/// let q: SimpleQueue<String> = SimpleQueue::new()?;
/// q.put("x".to_string())?;
/// assert!(!q.is_empty());
/// assert_eq!(q.get()?, "x");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SimpleQueue").field(&self.queue).finish()
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A simple queue (with the default ring size).
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    pub fn new() -> io::Result<SimpleQueue<T>> {
        let config = crate::raw::Config {
            maxsize: 0,
            capacity: crate::DEFAULT_CAPACITY,
            max_message: crate::DEFAULT_MAX_MESSAGE,
            name: None,
            kind: Kind::Simple,
        };
        Ok(SimpleQueue {
            queue: Queue::from_raw(RawQueue::create(&config)?),
        })
    }

    /// A simple queue from an fd received from another process.
    ///
    /// # Errors
    ///
    /// As [`Queue::from_fd`]; `InvalidData` for a queue of another kind.
    pub fn from_fd(fd: OwnedFd) -> io::Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            queue: Queue::from_raw(RawQueue::from_fd(fd, Kind::Simple)?),
        })
    }

    /// Puts `item`, waiting for room while the ring is full.
    ///
    /// # Errors
    ///
    /// As [`Queue::put`].
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put(item)
    }

    /// Takes the next item, waiting for one.
    ///
    /// # Errors
    ///
    /// As [`Queue::get`].
    pub fn get(&self) -> Result<T, GetError> {
        self.queue.get()
    }
}

impl<T> SimpleQueue<T> {
    /// Whether no item waits (reliable right after a `put` returns).
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Closes the queue for every process (see [`Queue::close`]).
    pub fn close(&self) {
        self.queue.close();
    }
}

impl<T> AsFd for SimpleQueue<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.queue.as_fd()
    }
}

impl<T: Serialize + DeserializeOwned> multiproc_internal::transfer::Transfer for SimpleQueue<T> {
    const TAG: [u8; 8] = *b"MPSQUEUE";

    fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.as_fd())
    }

    fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([T: Serialize + DeserializeOwned] SimpleQueue<T>);
