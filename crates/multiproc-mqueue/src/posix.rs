//! [`PosixMq`]: named Linux kernel POSIX message queues (`mq_overview(7)`).
//!
//! Every call goes through nix's safe `mq_*` wrappers; nix types stay private.
//!
//! How waiting works: nix 0.31 has no `mq_timedsend`, and this crate forbids `unsafe`, so the
//! descriptor is always opened `O_NONBLOCK` and every wait is a `poll(2)` on it (Linux queue
//! descriptors are pollable), with the call retried when it reports ready. This gives all
//! four modes — blocking, `try_`, `_timeout`, `_deadline` — for sending and receiving alike,
//! and the timeouts run on the monotonic clock, where `mq_timedsend`/`mq_timedreceive` would
//! take an absolute `CLOCK_REALTIME` time that wall-clock changes move.

use multiproc_internal::errno::invalid_input;
use nix::errno::Errno;
use nix::mqueue::{self as mq, mq_attr_member_t, MQ_OFlag, MqAttr, MqdT};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Longest name after the leading `/` (`NAME_MAX`).
const NAME_MAX: usize = 255;
/// The kernel's hard ceilings (`HARD_MSGMAX`, `HARD_MSGSIZEMAX`): not even a process with
/// `CAP_SYS_RESOURCE` creates a queue beyond them.
const HARD_MSGMAX: usize = 65_536;
const HARD_MSGSIZEMAX: usize = 16 * 1024 * 1024;
/// Linux's `MQ_PRIO_MAX`, in case `sysconf` cannot say.
const LINUX_MQ_PRIO_MAX: u32 = 32_768;
/// Where the kernel's limits and defaults live.
const SYSCTL_DIR: &str = "/proc/sys/fs/mqueue";
/// Linux's built-in defaults, for when `/proc` cannot be read.
const FALLBACK_CAPACITY: usize = 10;
const FALLBACK_MESSAGE_SIZE: usize = 8192;

/// A named POSIX message queue: kernel-managed, with message priorities, shared by name
/// between any processes (`mq_open(3)`).
///
/// Messages are byte strings of at most [`message_size`](Self::message_size) bytes, and a
/// queue holds at most [`capacity`](Self::capacity) of them. Each message has a priority
/// below [`max_priority`](Self::max_priority) (32768 on Linux): receives take the highest
/// priority first, and the oldest first within a priority.
///
/// Sending and receiving come in four modes, as crossbeam's channels do: `send` and
/// `receive` wait as long as it takes; `try_send` and `try_receive` never wait
/// ([`Full`](PosixMqSendError::Full), [`Empty`](PosixMqRecvError::Empty)); `_timeout` and
/// `_deadline` wait until a time on the monotonic clock
/// ([`Timeout`](PosixMqSendError::Timeout)). The `_into` receives fill a caller's buffer,
/// which must hold [`message_size`](Self::message_size) bytes.
///
/// # When to prefer it over the shared-memory `Queue`
///
/// - The kernel owns it: a queue and its messages outlive the process that created it, until
///   [`unlink`](Self::unlink) (or a reboot). Nothing is lost when a sender or receiver dies,
///   and no message is ever seen half-written.
/// - Unrelated processes — other programs, other languages — open it by name; no fork, fd
///   passing or serialization format is needed.
/// - Messages carry priorities.
/// - The descriptor is pollable ([`AsFd`]): an event loop (epoll, mio, tokio's `AsyncFd`)
///   can wait for it next to sockets.
///
/// The costs: every message is two system calls and two copies, so it is much slower per
/// message than the shared-memory `Queue`, and the default limits are small: 10 messages of
/// 8 KiB per queue (`/proc/sys/fs/mqueue/msg_max`, `msgsize_max`), 800 KiB of queue memory per
/// user (`RLIMIT_MSGQUEUE`, `ulimit -q`) and 256 queues per system (`queues_max`). Larger
/// values need an administrator (or `CAP_SYS_RESOURCE`). Messages are bytes: serialize
/// values yourself.
///
/// `/dev/mqueue` need not be mounted (containers often lack it): `mq_open` works without it;
/// the mount only lets you list queues with `ls`.
///
/// # Names
///
/// A name is `/` followed by 1 to 255 bytes (`NAME_MAX`) with no other `/` and no NUL byte.
/// A name given without the leading `/` gets one: `"jobs"` and `"/jobs"` are the same queue,
/// and [`name`](Self::name) returns `"/jobs"`.
///
/// # Lifetime
///
/// Dropping a `PosixMq` closes its descriptor; the queue itself remains until it is unlinked
/// ([`unlink`](Self::unlink), [`unlink_name`](Self::unlink_name)), and after that until the
/// last descriptor is closed. A forked child inherits the descriptor (it is close-on-exec).
///
/// # The descriptor
///
/// The descriptor is opened `O_NONBLOCK`, whatever [`PosixMqOptions::nonblocking`] says:
/// waits are `poll(2)` on it. Code that receives the descriptor through [`AsFd`] sees that
/// flag (an event loop wants it); it must not clear it, or `try_send` and `try_receive`
/// could block. A process blocked in C's `mq_receive` on the same queue is handed a new
/// message directly by the kernel, ahead of a `PosixMq` waiting in `poll`.
///
/// # Examples
///
/// ```
/// use multiproc_mqueue::PosixMq;
///
/// # fn main() -> std::io::Result<()> {
/// # let name = format!("multiproc-test-doc-mq-{}", std::process::id());
/// let queue = PosixMq::options()
///     .create(true)
///     .exclusive(true) // fail if it exists
///     .capacity(8)
///     .message_size(256)
///     .open(&name)?;
/// // Another process would open it with `PosixMq::open(&name)`.
/// queue.send(b"routine", 0)?;
/// queue.send(b"urgent", 9)?;
/// assert_eq!(queue.receive()?, (b"urgent".to_vec(), 9));
/// assert_eq!(queue.receive()?, (b"routine".to_vec(), 0));
/// queue.unlink()?; // the name goes; `queue` keeps working until it is dropped
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[doc(alias = "mq_open")]
#[doc(alias = "mqd_t")]
pub struct PosixMq {
    /// `None` only inside `close` and `Drop`.
    mqd: Option<MqdT>,
    name: String,
    /// `mq_maxmsg` and `mq_msgsize`, fixed when the queue was created.
    capacity: usize,
    message_size: usize,
    readable: bool,
    writable: bool,
    nonblocking: bool,
}

/// How to open or create a [`PosixMq`], like [`std::fs::OpenOptions`].
///
/// The defaults: open an existing queue for reading and writing, in blocking mode; if
/// creating, with mode `0o600` and the kernel's default capacity and message size.
///
/// # Examples
///
/// ```
/// use multiproc_mqueue::PosixMq;
///
/// # fn main() -> std::io::Result<()> {
/// # let name = format!("multiproc-test-doc-options-{}", std::process::id());
/// let queue = PosixMq::options()
///     .create(true) // open it if it exists, create it if not
///     .mode(0o640)
///     .capacity(4)
///     .message_size(64)
///     .open(&name)?;
/// let writer = PosixMq::options().read(false).open(&name)?; // write-only
/// # PosixMq::unlink_name(&name)?;
/// writer.send(b"hello", 0)?;
/// let attributes = queue.attributes()?;
/// assert_eq!((attributes.capacity, attributes.message_size, attributes.messages), (4, 64, 1));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PosixMqOptions {
    read: bool,
    write: bool,
    create: bool,
    exclusive: bool,
    mode: u32,
    capacity: Option<usize>,
    message_size: Option<usize>,
    nonblocking: bool,
}

impl Default for PosixMqOptions {
    fn default() -> PosixMqOptions {
        PosixMqOptions {
            read: true,
            write: true,
            create: false,
            exclusive: false,
            mode: 0o600,
            capacity: None,
            message_size: None,
            nonblocking: false,
        }
    }
}

impl PosixMqOptions {
    /// The default options (see the type's docs).
    pub fn new() -> PosixMqOptions {
        PosixMqOptions::default()
    }

    /// Opens the queue for receiving (default `true`).
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Opens the queue for sending (default `true`).
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Creates the queue if it does not exist (`O_CREAT`; default `false`). If it exists, it
    /// is opened as it is: [`capacity`](Self::capacity), [`message_size`](Self::message_size)
    /// and [`mode`](Self::mode) then do not apply (check [`PosixMq::attributes`]).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Creates the queue and fails with `AlreadyExists` if it exists (`O_CREAT | O_EXCL`;
    /// default `false`). Implies [`create`](Self::create).
    pub fn exclusive(&mut self, exclusive: bool) -> &mut Self {
        self.exclusive = exclusive;
        self
    }

    /// Permission bits of a queue this call creates (default `0o600`: only this user); the
    /// process's umask is applied. Only the bits in `0o777` are allowed.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// How many messages a queue this call creates holds (`mq_maxmsg`; default: the
    /// kernel's, `/proc/sys/fs/mqueue/msg_default`, usually 10). At most
    /// `/proc/sys/fs/mqueue/msg_max` (usually 10) without `CAP_SYS_RESOURCE`, 65536 with it.
    /// Only when creating.
    pub fn capacity(&mut self, messages: usize) -> &mut Self {
        self.capacity = Some(messages);
        self
    }

    /// The largest message, in bytes, of a queue this call creates (`mq_msgsize`; default:
    /// the kernel's, `/proc/sys/fs/mqueue/msgsize_default`, usually 8192). At most
    /// `/proc/sys/fs/mqueue/msgsize_max` (usually 8192) without `CAP_SYS_RESOURCE`, 16 MiB
    /// with it. Only when creating.
    pub fn message_size(&mut self, bytes: usize) -> &mut Self {
        self.message_size = Some(bytes);
        self
    }

    /// Never wait (default `false`): [`send`](PosixMq::send) and
    /// [`receive`](PosixMq::receive), and their `_timeout` and `_deadline` forms, then fail at
    /// once with `Full` or `Empty` instead of waiting, as `O_NONBLOCK` does in C.
    pub fn nonblocking(&mut self, nonblocking: bool) -> &mut Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Opens (or creates) the queue `name` with these options (`mq_open`). A name without a
    /// leading `/` gets one.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: a bad name (empty, another `/`, longer than 255 bytes, a NUL byte,
    ///   `.` or `..`), neither read nor write, mode bits outside `0o777`, a capacity or message
    ///   size of 0, a capacity or message size when not creating, or one above the system's
    ///   limit (the message names the limit, e.g. `/proc/sys/fs/mqueue/msg_max`, and its
    ///   value).
    /// - `AlreadyExists`: [`exclusive`](Self::exclusive) and the queue exists.
    /// - `NotFound`: not creating and there is no such queue.
    /// - `PermissionDenied`: the queue's mode does not allow the access asked for.
    /// - `QuotaExceeded`: a limit was reached: the user's queue memory (`RLIMIT_MSGQUEUE`),
    ///   this process's open files (`RLIMIT_NOFILE`), the system's open files, or the
    ///   system's number of queues (`/proc/sys/fs/mqueue/queues_max`); the message says which
    ///   and its value.
    /// - `OutOfMemory`: the kernel could not allocate the queue.
    /// - `Unsupported`: the kernel has no POSIX message queues (`CONFIG_POSIX_MQUEUE`).
    #[doc(alias = "mq_open")]
    pub fn open(&self, name: &str) -> io::Result<PosixMq> {
        let name = checked_name(name)?;
        if !self.read && !self.write {
            return Err(invalid_input(format!(
                "message queue {name}: open it for reading, writing or both"
            )));
        }
        if self.mode & !0o777 != 0 {
            return Err(invalid_input(format!(
                "message queue {name}: mode {:#o} has bits outside 0o777",
                self.mode
            )));
        }
        let creating = self.create || self.exclusive;
        if !creating && (self.capacity.is_some() || self.message_size.is_some()) {
            return Err(invalid_input(format!(
                "message queue {name}: capacity and message size apply only when creating"
            )));
        }
        let mut flags = MQ_OFlag::O_CLOEXEC | MQ_OFlag::O_NONBLOCK;
        flags |= match (self.read, self.write) {
            (true, true) => MQ_OFlag::O_RDWR,
            (false, true) => MQ_OFlag::O_WRONLY,
            _ => MQ_OFlag::O_RDONLY,
        };
        // With O_CREAT, glibc's variadic mq_open always reads a mode and an attribute
        // pointer, and nix passes neither when given no attributes: so a create always
        // passes both, with the kernel's defaults filled in.
        let size = if creating {
            flags |= MQ_OFlag::O_CREAT;
            if self.exclusive {
                flags |= MQ_OFlag::O_EXCL;
            }
            let capacity = self.capacity.unwrap_or_else(default_capacity);
            let message_size = self.message_size.unwrap_or_else(default_message_size);
            if capacity == 0 || message_size == 0 {
                return Err(invalid_input(format!(
                    "message queue {name}: capacity and message size must be at least 1 (got {capacity} and {message_size})"
                )));
            }
            Some((capacity, message_size))
        } else {
            None
        };
        let attr = size.map(|(capacity, message_size)| {
            MqAttr::new(0, attr_member(capacity), attr_member(message_size), 0)
        });
        let mode = Mode::from_bits_truncate(self.mode as libc::mode_t);
        let mqd = mq::mq_open(name.as_str(), flags, mode, attr.as_ref())
            .map_err(|e| open_error(e, &name, size))?;
        let mut queue = PosixMq {
            mqd: Some(mqd),
            name,
            capacity: 0,
            message_size: 0,
            readable: self.read,
            writable: self.write,
            nonblocking: self.nonblocking,
        };
        // Fixed for the queue's life: read once. The message size is what receives allocate,
        // and it comes from whoever created the queue: it must be within the kernel's ceiling.
        let attributes = queue.attributes()?;
        if attributes.message_size == 0 || attributes.message_size > HARD_MSGSIZEMAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "message queue {}: message size {} is outside 1..={HARD_MSGSIZEMAX}",
                    queue.name, attributes.message_size
                ),
            ));
        }
        queue.capacity = attributes.capacity;
        queue.message_size = attributes.message_size;
        Ok(queue)
    }
}

/// A [`PosixMq`]'s attributes at one moment (`struct mq_attr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PosixMqAttributes {
    /// How many messages the queue holds at most (`mq_maxmsg`).
    pub capacity: usize,
    /// The largest message in bytes (`mq_msgsize`).
    pub message_size: usize,
    /// How many messages it holds now (`mq_curmsgs`); other processes may change it at once.
    pub messages: usize,
}

/// Why a [`PosixMq`] send failed. Nothing was sent.
///
/// Converts into [`io::Error`] (for `?` in functions returning [`io::Result`]): `Full` is
/// `WouldBlock`, `Timeout` is `TimedOut`, `TooLarge` and `InvalidPriority` are
/// `InvalidInput`, and an `Io` error is handed back as it was.
#[derive(Debug)]
#[non_exhaustive]
pub enum PosixMqSendError {
    /// `try_send`, or a [nonblocking](PosixMqOptions::nonblocking) handle: the queue is full
    /// (`EAGAIN`).
    Full,
    /// `send_timeout`/`send_deadline`: the queue was still full when the time was up
    /// (`ETIMEDOUT`).
    Timeout,
    /// The message is longer than the queue's [message size](PosixMq::message_size)
    /// (`EMSGSIZE`).
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The queue's message size.
        max: usize,
    },
    /// The priority is not below [`PosixMq::max_priority`] (`EINVAL`).
    InvalidPriority {
        /// The priority given.
        priority: u32,
        /// The bound (`MQ_PRIO_MAX`): priorities are `0..max`.
        max: u32,
    },
    /// Another error: the handle is not open for writing (`PermissionDenied`), or an OS
    /// error.
    Io(io::Error),
}

impl fmt::Display for PosixMqSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PosixMqSendError::Full => f.write_str("the message queue is full"),
            PosixMqSendError::Timeout => {
                f.write_str("timed out waiting for room in the message queue")
            }
            PosixMqSendError::TooLarge { len, max } => write!(
                f,
                "message of {len} bytes exceeds the queue's message size of {max}"
            ),
            PosixMqSendError::InvalidPriority { priority, max } => write!(
                f,
                "message priority {priority} is not below MQ_PRIO_MAX ({max})"
            ),
            PosixMqSendError::Io(e) => write!(f, "send failed: {e}"),
        }
    }
}

impl std::error::Error for PosixMqSendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PosixMqSendError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PosixMqSendError> for io::Error {
    fn from(e: PosixMqSendError) -> io::Error {
        let kind = match e {
            PosixMqSendError::Io(inner) => return inner,
            PosixMqSendError::Full => io::ErrorKind::WouldBlock,
            PosixMqSendError::Timeout => io::ErrorKind::TimedOut,
            PosixMqSendError::TooLarge { .. } | PosixMqSendError::InvalidPriority { .. } => {
                io::ErrorKind::InvalidInput
            }
        };
        io::Error::new(kind, e)
    }
}

/// Why a [`PosixMq`] receive failed. No message was taken.
///
/// Converts into [`io::Error`]: `Empty` is `WouldBlock`, `Timeout` is `TimedOut`,
/// `BufferTooShort` is `InvalidInput`, and an `Io` error is handed back as it was.
#[derive(Debug)]
#[non_exhaustive]
pub enum PosixMqRecvError {
    /// `try_receive`, or a [nonblocking](PosixMqOptions::nonblocking) handle: the queue is
    /// empty (`EAGAIN`).
    Empty,
    /// `receive_timeout`/`receive_deadline`: the queue was still empty when the time was up
    /// (`ETIMEDOUT`).
    Timeout,
    /// The buffer given to an `_into` receive is shorter than the queue's
    /// [message size](PosixMq::message_size), which the kernel requires whatever the length
    /// of the next message (`EMSGSIZE`).
    BufferTooShort {
        /// The buffer's length.
        len: usize,
        /// The queue's message size.
        needed: usize,
    },
    /// Another error: the handle is not open for reading (`PermissionDenied`), or an OS
    /// error.
    Io(io::Error),
}

impl fmt::Display for PosixMqRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PosixMqRecvError::Empty => f.write_str("the message queue is empty"),
            PosixMqRecvError::Timeout => {
                f.write_str("timed out waiting for a message in the message queue")
            }
            PosixMqRecvError::BufferTooShort { len, needed } => write!(
                f,
                "a buffer of {len} bytes is shorter than the queue's message size of {needed}"
            ),
            PosixMqRecvError::Io(e) => write!(f, "receive failed: {e}"),
        }
    }
}

impl std::error::Error for PosixMqRecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PosixMqRecvError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PosixMqRecvError> for io::Error {
    fn from(e: PosixMqRecvError) -> io::Error {
        let kind = match e {
            PosixMqRecvError::Io(inner) => return inner,
            PosixMqRecvError::Empty => io::ErrorKind::WouldBlock,
            PosixMqRecvError::Timeout => io::ErrorKind::TimedOut,
            PosixMqRecvError::BufferTooShort { .. } => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// How long an operation may wait.
#[derive(Clone, Copy, Debug)]
enum Wait {
    /// Not at all.
    No,
    /// Until this time (monotonic clock).
    Until(Instant),
    /// As long as it takes.
    Forever,
}

impl Wait {
    fn after(timeout: Duration) -> Wait {
        // A timeout too long to represent is as good as forever.
        Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until)
    }
}

impl PosixMq {
    /// Creates the queue `name`, for reading and writing, with the kernel's default capacity
    /// and message size and mode `0o600`; fails if it exists (`O_CREAT | O_EXCL`). For other
    /// settings use [`options`](Self::options).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the queue exists; otherwise as [`PosixMqOptions::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::io::ErrorKind;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-create-{}", std::process::id());
    /// let queue = PosixMq::create(&name)?;
    /// assert_eq!(PosixMq::create(&name).unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// queue.unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn create(name: &str) -> io::Result<PosixMq> {
        PosixMqOptions::new().exclusive(true).open(name)
    }

    /// Opens the existing queue `name` for reading and writing.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no such queue; otherwise as [`PosixMqOptions::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::io::ErrorKind;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-open-{}", std::process::id());
    /// assert_eq!(PosixMq::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// let creator = PosixMq::create(&name)?;
    /// let opener = PosixMq::open(&name)?; // in real use, in another process
    /// creator.unlink()?;
    /// opener.send(b"hi", 0)?;
    /// assert_eq!(creator.receive()?.0, b"hi");
    /// # Ok(()) }
    /// ```
    pub fn open(name: &str) -> io::Result<PosixMq> {
        PosixMqOptions::new().open(name)
    }

    /// Options to open or create a queue: see [`PosixMqOptions`].
    pub fn options() -> PosixMqOptions {
        PosixMqOptions::new()
    }

    /// Removes the name `name` (`mq_unlink`). Processes that have the queue open keep using
    /// it; it is destroyed when the last of them closes it. A name without a leading `/` gets
    /// one.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no such queue, `PermissionDenied` if this user may not remove
    /// it, `InvalidInput` for a bad name.
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::io::ErrorKind;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-unlink-{}", std::process::id());
    /// drop(PosixMq::create(&name)?);
    /// PosixMq::unlink_name(&name)?; // the queue outlived its handle until now
    /// assert_eq!(PosixMq::unlink_name(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "mq_unlink")]
    pub fn unlink_name(name: &str) -> io::Result<()> {
        let name = checked_name(name)?;
        mq::mq_unlink(name.as_str()).map_err(|e| match e {
            Errno::ENOENT => not_found(&name),
            Errno::EACCES | Errno::EPERM => io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("permission denied removing message queue {name}"),
            ),
            e => os_error(e, &format!("removing message queue {name}")),
        })
    }

    /// Removes this queue's name (`mq_unlink`), as [`unlink_name`](Self::unlink_name) does:
    /// this handle, and every other open one, keeps working.
    ///
    /// The name is looked up again: if another process has unlinked the queue and created a
    /// new one under the same name, this removes the new one.
    ///
    /// # Errors
    ///
    /// As [`unlink_name`](Self::unlink_name): `NotFound` if the name is already gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::io::ErrorKind;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-unlink-self-{}", std::process::id());
    /// let queue = PosixMq::create(&name)?;
    /// queue.unlink()?;
    /// assert_eq!(PosixMq::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// queue.send(b"still works", 0)?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "mq_unlink")]
    pub fn unlink(&self) -> io::Result<()> {
        PosixMq::unlink_name(&self.name)
    }

    /// Closes the descriptor (`mq_close`), reporting an error that dropping would ignore. The
    /// queue remains until it is unlinked.
    ///
    /// # Errors
    ///
    /// The OS error of `mq_close` (the descriptor is closed either way).
    #[doc(alias = "mq_close")]
    pub fn close(mut self) -> io::Result<()> {
        match self.mqd.take() {
            Some(mqd) => {
                mq::mq_close(mqd).map_err(|e| os_error(e, &format!("closing {}", self.name)))
            }
            None => Ok(()),
        }
    }

    /// The queue's name, with its leading `/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many messages the queue holds at most (`mq_maxmsg`, fixed at creation).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest message in bytes (`mq_msgsize`, fixed at creation): the size of the
    /// buffer every receive needs.
    pub fn message_size(&self) -> usize {
        self.message_size
    }

    /// Messages' priorities are `0..max_priority()`: `MQ_PRIO_MAX` from `sysconf`, 32768 on
    /// Linux. Higher priorities are received first.
    #[doc(alias = "MQ_PRIO_MAX")]
    pub fn max_priority() -> u32 {
        static MAX: OnceLock<u32> = OnceLock::new();
        *MAX.get_or_init(
            || match nix::unistd::sysconf(nix::unistd::SysconfVar::MQ_PRIO_MAX) {
                Ok(Some(v)) if v > 0 => u32::try_from(v).unwrap_or(u32::MAX),
                _ => LINUX_MQ_PRIO_MAX,
            },
        )
    }

    /// The queue's attributes now, including how many messages it holds (`mq_getattr`).
    ///
    /// # Errors
    ///
    /// OS errors of `mq_getattr` (none are expected on an open queue).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-attributes-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).capacity(3).message_size(100).open(&name)?;
    /// queue.unlink()?;
    /// queue.send(b"one", 0)?;
    /// let attributes = queue.attributes()?;
    /// assert_eq!(attributes.capacity, 3);
    /// assert_eq!(attributes.message_size, 100);
    /// assert_eq!(attributes.messages, 1);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "mq_getattr")]
    pub fn attributes(&self) -> io::Result<PosixMqAttributes> {
        let attr = mq::mq_getattr(self.mqd())
            .map_err(|e| os_error(e, &format!("reading the attributes of {}", self.name)))?;
        let member = |v: mq_attr_member_t| {
            usize::try_from(v).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("message queue {}: negative attribute {v}", self.name),
                )
            })
        };
        Ok(PosixMqAttributes {
            capacity: member(attr.maxmsg())?,
            message_size: member(attr.msgsize())?,
            messages: member(attr.curmsgs())?,
        })
    }

    /// Sends `message` with `priority`, waiting while the queue is full (`mq_send`).
    ///
    /// # Errors
    ///
    /// [`TooLarge`](PosixMqSendError::TooLarge) above the [message size](Self::message_size),
    /// [`InvalidPriority`](PosixMqSendError::InvalidPriority) at or above
    /// [`max_priority`](Self::max_priority), [`Full`](PosixMqSendError::Full) on a
    /// [nonblocking](PosixMqOptions::nonblocking) handle, and [`Io`](PosixMqSendError::Io)
    /// (`PermissionDenied` if not open for writing).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-send-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// queue.send(b"hello", 1)?;
    /// assert_eq!(queue.receive()?, (b"hello".to_vec(), 1));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "mq_send")]
    pub fn send(&self, message: &[u8], priority: u32) -> Result<(), PosixMqSendError> {
        self.send_until(message, priority, Wait::Forever)
    }

    /// Sends `message` with `priority` if the queue has room now; never waits.
    ///
    /// # Errors
    ///
    /// [`Full`](PosixMqSendError::Full) if the queue is full; otherwise as
    /// [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::{PosixMq, PosixMqSendError};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-try-send-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).capacity(1).message_size(16).open(&name)?;
    /// queue.unlink()?;
    /// queue.try_send(b"first", 0)?;
    /// assert!(matches!(queue.try_send(b"second", 0), Err(PosixMqSendError::Full)));
    /// # Ok(()) }
    /// ```
    pub fn try_send(&self, message: &[u8], priority: u32) -> Result<(), PosixMqSendError> {
        self.send_until(message, priority, Wait::No)
    }

    /// Sends `message` with `priority`, waiting at most `timeout` for room. On
    /// [`Timeout`](PosixMqSendError::Timeout) it has waited at least `timeout`, measured on
    /// the monotonic clock (changes to the wall clock do not shorten or stretch it).
    ///
    /// # Errors
    ///
    /// [`Timeout`](PosixMqSendError::Timeout) if the queue stayed full; otherwise as
    /// [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::{PosixMq, PosixMqSendError};
    /// use std::time::Duration;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-send-timeout-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).capacity(1).message_size(16).open(&name)?;
    /// queue.unlink()?;
    /// queue.send_timeout(b"fits", 0, Duration::from_millis(10))?;
    /// let full = queue.send_timeout(b"waits", 0, Duration::from_millis(10));
    /// assert!(matches!(full, Err(PosixMqSendError::Timeout)));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "mq_timedsend")]
    pub fn send_timeout(
        &self,
        message: &[u8],
        priority: u32,
        timeout: Duration,
    ) -> Result<(), PosixMqSendError> {
        self.send_until(message, priority, Wait::after(timeout))
    }

    /// Sends `message` with `priority`, waiting for room until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::time::{Duration, Instant};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-send-deadline-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// queue.send_deadline(b"one", 0, deadline)?;
    /// queue.send_deadline(b"two", 0, deadline)?;
    /// # Ok(()) }
    /// ```
    pub fn send_deadline(
        &self,
        message: &[u8],
        priority: u32,
        deadline: Instant,
    ) -> Result<(), PosixMqSendError> {
        self.send_until(message, priority, Wait::Until(deadline))
    }

    /// Receives the oldest message of the highest priority, waiting while the queue is
    /// empty (`mq_receive`): the message and its priority.
    ///
    /// Allocates [`message_size`](Self::message_size) bytes, then shrinks the vector to the
    /// message; [`receive_into`](Self::receive_into) reuses a buffer instead.
    ///
    /// # Errors
    ///
    /// [`Empty`](PosixMqRecvError::Empty) on a [nonblocking](PosixMqOptions::nonblocking)
    /// handle, and [`Io`](PosixMqRecvError::Io) (`PermissionDenied` if not open for
    /// reading).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-receive-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// queue.send(b"a", 0)?;
    /// queue.send(b"b", 5)?;
    /// queue.send(b"c", 5)?;
    /// assert_eq!(queue.receive()?, (b"b".to_vec(), 5)); // highest priority first,
    /// assert_eq!(queue.receive()?, (b"c".to_vec(), 5)); // oldest first within one
    /// assert_eq!(queue.receive()?, (b"a".to_vec(), 0));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "mq_receive")]
    pub fn receive(&self) -> Result<(Vec<u8>, u32), PosixMqRecvError> {
        self.receive_vec(Wait::Forever)
    }

    /// Receives a message if one is there now; never waits.
    ///
    /// # Errors
    ///
    /// [`Empty`](PosixMqRecvError::Empty) if the queue is empty; otherwise as
    /// [`receive`](Self::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::{PosixMq, PosixMqRecvError};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-try-receive-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// assert!(matches!(queue.try_receive(), Err(PosixMqRecvError::Empty)));
    /// queue.send(b"here", 0)?;
    /// assert_eq!(queue.try_receive()?.0, b"here");
    /// # Ok(()) }
    /// ```
    pub fn try_receive(&self) -> Result<(Vec<u8>, u32), PosixMqRecvError> {
        self.receive_vec(Wait::No)
    }

    /// Receives a message, waiting at most `timeout` for one. On
    /// [`Timeout`](PosixMqRecvError::Timeout) it has waited at least `timeout`, measured on
    /// the monotonic clock (changes to the wall clock do not shorten or stretch it).
    ///
    /// # Errors
    ///
    /// [`Timeout`](PosixMqRecvError::Timeout) if the queue stayed empty; otherwise as
    /// [`receive`](Self::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::{PosixMq, PosixMqRecvError};
    /// use std::time::Duration;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-receive-timeout-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// let nothing = queue.receive_timeout(Duration::from_millis(10));
    /// assert!(matches!(nothing, Err(PosixMqRecvError::Timeout)));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "mq_timedreceive")]
    pub fn receive_timeout(&self, timeout: Duration) -> Result<(Vec<u8>, u32), PosixMqRecvError> {
        self.receive_vec(Wait::after(timeout))
    }

    /// Receives a message, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`receive_timeout`](Self::receive_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::time::{Duration, Instant};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-receive-deadline-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// queue.send(b"x", 0)?;
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(queue.receive_deadline(deadline)?.0, b"x");
    /// # Ok(()) }
    /// ```
    pub fn receive_deadline(&self, deadline: Instant) -> Result<(Vec<u8>, u32), PosixMqRecvError> {
        self.receive_vec(Wait::Until(deadline))
    }

    /// Receives a message into `buf`, waiting while the queue is empty: the message's length
    /// and priority. `buf` must hold at least [`message_size`](Self::message_size) bytes,
    /// whatever the length of the message (the kernel requires it).
    ///
    /// # Errors
    ///
    /// [`BufferTooShort`](PosixMqRecvError::BufferTooShort) if `buf` is shorter than the
    /// message size; otherwise as [`receive`](Self::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-receive-into-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// let mut buf = vec![0; queue.message_size()];
    /// queue.send(b"reused", 3)?;
    /// let (len, priority) = queue.receive_into(&mut buf)?;
    /// assert_eq!((&buf[..len], priority), (&b"reused"[..], 3));
    /// # Ok(()) }
    /// ```
    pub fn receive_into(&self, buf: &mut [u8]) -> Result<(usize, u32), PosixMqRecvError> {
        self.receive_until(buf, Wait::Forever)
    }

    /// Receives a message into `buf` if one is there now; never waits.
    ///
    /// # Errors
    ///
    /// [`Empty`](PosixMqRecvError::Empty) if the queue is empty; otherwise as
    /// [`receive_into`](Self::receive_into).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::{PosixMq, PosixMqRecvError};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-try-receive-into-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// let mut buf = vec![0; queue.message_size()];
    /// assert!(matches!(queue.try_receive_into(&mut buf), Err(PosixMqRecvError::Empty)));
    /// # Ok(()) }
    /// ```
    pub fn try_receive_into(&self, buf: &mut [u8]) -> Result<(usize, u32), PosixMqRecvError> {
        self.receive_until(buf, Wait::No)
    }

    /// Receives a message into `buf`, waiting at most `timeout` (monotonic clock) for one.
    ///
    /// # Errors
    ///
    /// [`Timeout`](PosixMqRecvError::Timeout) if the queue stayed empty; otherwise as
    /// [`receive_into`](Self::receive_into).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::time::Duration;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-receive-into-timeout-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// let mut buf = vec![0; queue.message_size()];
    /// queue.send(b"soon", 0)?;
    /// let (len, _) = queue.receive_into_timeout(&mut buf, Duration::from_secs(1))?;
    /// assert_eq!(&buf[..len], b"soon");
    /// # Ok(()) }
    /// ```
    pub fn receive_into_timeout(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(usize, u32), PosixMqRecvError> {
        self.receive_until(buf, Wait::after(timeout))
    }

    /// Receives a message into `buf`, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`receive_into_timeout`](Self::receive_into_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::time::{Duration, Instant};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-receive-into-deadline-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// let mut buf = vec![0; queue.message_size()];
    /// queue.send(b"due", 0)?;
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// let (len, _) = queue.receive_into_deadline(&mut buf, deadline)?;
    /// assert_eq!(&buf[..len], b"due");
    /// # Ok(()) }
    /// ```
    pub fn receive_into_deadline(
        &self,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<(usize, u32), PosixMqRecvError> {
        self.receive_until(buf, Wait::Until(deadline))
    }

    fn mqd(&self) -> &MqdT {
        self.mqd
            .as_ref()
            .expect("the descriptor is only taken by close and drop")
    }

    fn send_until(
        &self,
        message: &[u8],
        priority: u32,
        wait: Wait,
    ) -> Result<(), PosixMqSendError> {
        if !self.writable {
            return Err(PosixMqSendError::Io(not_open_for(&self.name, "writing")));
        }
        if message.len() > self.message_size {
            return Err(PosixMqSendError::TooLarge {
                len: message.len(),
                max: self.message_size,
            });
        }
        let max = PosixMq::max_priority();
        if priority >= max {
            return Err(PosixMqSendError::InvalidPriority { priority, max });
        }
        loop {
            match mq::mq_send(self.mqd(), message, priority) {
                Ok(()) => return Ok(()),
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(Errno::EMSGSIZE) => {
                    return Err(PosixMqSendError::TooLarge {
                        len: message.len(),
                        max: self.message_size,
                    })
                }
                Err(Errno::EBADF) => {
                    return Err(PosixMqSendError::Io(not_open_for(&self.name, "writing")))
                }
                Err(Errno::EINVAL) => {
                    return Err(PosixMqSendError::InvalidPriority { priority, max })
                }
                Err(Errno::ETIMEDOUT) => return Err(PosixMqSendError::Timeout),
                Err(e) => {
                    return Err(PosixMqSendError::Io(os_error(
                        e,
                        &format!("sending to {}", self.name),
                    )))
                }
            }
            match self.wait_ready(PollFlags::POLLOUT, wait) {
                Ok(true) => {}
                Ok(false) if matches!(wait, Wait::No) || self.nonblocking => {
                    return Err(PosixMqSendError::Full)
                }
                Ok(false) => return Err(PosixMqSendError::Timeout),
                Err(e) => return Err(PosixMqSendError::Io(e)),
            }
        }
    }

    fn receive_vec(&self, wait: Wait) -> Result<(Vec<u8>, u32), PosixMqRecvError> {
        // `message_size` was checked against the kernel's ceiling (16 MiB) at open.
        let mut buf = vec![0; self.message_size];
        let (len, priority) = self.receive_until(&mut buf, wait)?;
        buf.truncate(len);
        buf.shrink_to_fit();
        Ok((buf, priority))
    }

    fn receive_until(&self, buf: &mut [u8], wait: Wait) -> Result<(usize, u32), PosixMqRecvError> {
        if !self.readable {
            return Err(PosixMqRecvError::Io(not_open_for(&self.name, "reading")));
        }
        if buf.len() < self.message_size {
            return Err(PosixMqRecvError::BufferTooShort {
                len: buf.len(),
                needed: self.message_size,
            });
        }
        loop {
            let mut priority = 0;
            match mq::mq_receive(self.mqd(), buf, &mut priority) {
                Ok(len) => return Ok((len, priority)),
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(Errno::EMSGSIZE) => {
                    return Err(PosixMqRecvError::BufferTooShort {
                        len: buf.len(),
                        needed: self.message_size,
                    })
                }
                Err(Errno::EBADF) => {
                    return Err(PosixMqRecvError::Io(not_open_for(&self.name, "reading")))
                }
                Err(Errno::ETIMEDOUT) => return Err(PosixMqRecvError::Timeout),
                Err(e) => {
                    return Err(PosixMqRecvError::Io(os_error(
                        e,
                        &format!("receiving from {}", self.name),
                    )))
                }
            }
            match self.wait_ready(PollFlags::POLLIN, wait) {
                Ok(true) => {}
                Ok(false) if matches!(wait, Wait::No) || self.nonblocking => {
                    return Err(PosixMqRecvError::Empty)
                }
                Ok(false) => return Err(PosixMqRecvError::Timeout),
                Err(e) => return Err(PosixMqRecvError::Io(e)),
            }
        }
    }

    /// Waits until the descriptor reports `events`: `Ok(true)` to retry the call, `Ok(false)`
    /// when there is no (more) waiting to do — `Wait::No`, a nonblocking handle, or a deadline
    /// that has passed. Never returns `false` before the deadline.
    fn wait_ready(&self, events: PollFlags, wait: Wait) -> io::Result<bool> {
        if self.nonblocking {
            return Ok(false);
        }
        loop {
            let timeout = match wait {
                Wait::No => return Ok(false),
                Wait::Forever => PollTimeout::NONE,
                Wait::Until(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    // Rounded up to whole milliseconds: poll never ends before the deadline
                    // because of rounding; the loop covers a wait longer than poll takes.
                    let ms = left.as_nanos().div_ceil(1_000_000);
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.as_fd(), events)];
            match nix::poll::poll(&mut fds, timeout) {
                // Timed out, or woken early: the loop checks the deadline again.
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {
                    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                    if revents.contains(PollFlags::POLLNVAL) {
                        return Err(os_error(Errno::EBADF, &format!("polling {}", self.name)));
                    }
                    return Ok(true);
                }
                Err(e) => return Err(os_error(e, &format!("polling {}", self.name))),
            }
        }
    }
}

impl AsFd for PosixMq {
    /// The queue's descriptor: Linux queue descriptors are pollable, readable (`POLLIN`)
    /// while a message is queued and writable (`POLLOUT`) while there is room. It is
    /// `O_NONBLOCK`; leave its flags alone (see the type's docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use multiproc_mqueue::PosixMq;
    /// use std::os::fd::{AsFd, AsRawFd};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let name = format!("multiproc-test-doc-as-fd-{}", std::process::id());
    /// let queue = PosixMq::options().exclusive(true).message_size(64).open(&name)?;
    /// # queue.unlink()?;
    /// let fd = queue.as_fd().as_raw_fd(); // register with epoll, mio, tokio's AsyncFd, …
    /// assert!(fd >= 0);
    /// # Ok(()) }
    /// ```
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.mqd().as_fd()
    }
}

impl Drop for PosixMq {
    /// Closes the descriptor (`mq_close`), ignoring errors; the queue itself remains until
    /// unlinked.
    fn drop(&mut self) {
        if let Some(mqd) = self.mqd.take() {
            let _ = mq::mq_close(mqd);
        }
    }
}

/// `name` with its leading `/`, or why it is not a queue name.
fn checked_name(name: &str) -> io::Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let bad = |why: String| invalid_input(format!("invalid message queue name {name:?}: {why}"));
    if bare.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if bare.contains('/') {
        return Err(bad("only the leading character may be '/'".into()));
    }
    if bare.contains('\0') {
        return Err(bad("it contains a NUL byte".into()));
    }
    if bare == "." || bare == ".." {
        return Err(bad("'.' and '..' are not queue names".into()));
    }
    if bare.len() > NAME_MAX {
        return Err(bad(format!(
            "{} bytes after the '/'; the limit is NAME_MAX = {NAME_MAX}",
            bare.len()
        )));
    }
    Ok(format!("/{bare}"))
}

/// An attribute for `struct mq_attr`; values beyond `c_long` become its maximum, which the
/// kernel rejects as above its limits.
fn attr_member(v: usize) -> mq_attr_member_t {
    mq_attr_member_t::try_from(v).unwrap_or(mq_attr_member_t::MAX)
}

/// A number from `/proc/sys/fs/mqueue/<file>`.
fn sysctl(file: &str) -> Option<usize> {
    std::fs::read_to_string(format!("{SYSCTL_DIR}/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The kernel's default for a queue created without attributes: the `*_default` sysctl
/// capped by the `*_max` one, as the kernel does.
fn kernel_default(default: &str, max: &str, fallback: usize) -> usize {
    let d = sysctl(default).unwrap_or(fallback);
    sysctl(max).map_or(d, |m| d.min(m)).max(1)
}

fn default_capacity() -> usize {
    kernel_default("msg_default", "msg_max", FALLBACK_CAPACITY)
}

fn default_message_size() -> usize {
    kernel_default("msgsize_default", "msgsize_max", FALLBACK_MESSAGE_SIZE)
}

/// The soft value of one of this process's limits, from `/proc/self/limits` (`label` is the
/// line's start, e.g. `"Max msgqueue size"`).
fn process_limit(label: &str) -> Option<String> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with(label))?;
    line[label.len()..]
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// Why `value` of an attribute is above a limit, if it is: the sysctl (which processes
/// without `CAP_SYS_RESOURCE` must respect) or the kernel's hard ceiling.
fn over_limit(what: &str, value: usize, sysctl_file: &str, hard: usize) -> Option<String> {
    match sysctl(sysctl_file) {
        Some(soft) if value > soft => Some(format!(
            "{what} {value} is above the system limit {SYSCTL_DIR}/{sysctl_file} = {soft} \
             (processes with CAP_SYS_RESOURCE may go up to {hard})"
        )),
        _ if value > hard => Some(format!(
            "{what} {value} is above the kernel's hard limit of {hard}"
        )),
        _ => None,
    }
}

/// A clear error for a failed `mq_open`. `size` is the capacity and message size passed when
/// creating.
fn open_error(e: Errno, name: &str, size: Option<(usize, usize)>) -> io::Error {
    use io::ErrorKind as K;
    let (kind, msg) = match (e, size) {
        (Errno::EEXIST, _) => (
            K::AlreadyExists,
            format!("message queue {name} already exists"),
        ),
        (Errno::ENOENT, _) => return not_found(name),
        (Errno::EACCES | Errno::EPERM, _) => (
            K::PermissionDenied,
            format!("permission denied opening message queue {name}"),
        ),
        (Errno::EINVAL, Some((capacity, message_size))) => {
            let why: Vec<String> = [
                over_limit("capacity", capacity, "msg_max", HARD_MSGMAX),
                over_limit("message size", message_size, "msgsize_max", HARD_MSGSIZEMAX),
            ]
            .into_iter()
            .flatten()
            .collect();
            let why = if why.is_empty() {
                format!(
                    "the kernel rejected capacity {capacity} and message size {message_size} \
                     (EINVAL)"
                )
            } else {
                why.join("; ")
            };
            (
                K::InvalidInput,
                format!("cannot create message queue {name}: {why}"),
            )
        }
        (Errno::EMFILE, Some((capacity, message_size))) => (
            K::QuotaExceeded,
            format!(
                "cannot create message queue {name}: this user's message queue memory limit \
                 (RLIMIT_MSGQUEUE, `ulimit -q`: {} bytes, shared by all the user's queues) \
                 cannot take a queue of {capacity} messages of {message_size} bytes (over {} \
                 bytes), or this process has too many open files (RLIMIT_NOFILE: {}) (EMFILE)",
                process_limit("Max msgqueue size").unwrap_or_else(|| "?".into()),
                capacity.saturating_mul(message_size),
                process_limit("Max open files").unwrap_or_else(|| "?".into()),
            ),
        ),
        (Errno::EMFILE, None) => (
            K::QuotaExceeded,
            format!(
                "cannot open message queue {name}: this process has too many open files \
                 (RLIMIT_NOFILE: {}) (EMFILE)",
                process_limit("Max open files").unwrap_or_else(|| "?".into()),
            ),
        ),
        (Errno::ENFILE, _) => (
            K::QuotaExceeded,
            format!(
                "cannot open message queue {name}: the system-wide limit on open files was \
                 reached (ENFILE)"
            ),
        ),
        (Errno::ENOSPC, _) => (
            K::QuotaExceeded,
            format!(
                "cannot create message queue {name}: the system-wide limit on message queues \
                 ({SYSCTL_DIR}/queues_max = {}) was reached (ENOSPC)",
                sysctl("queues_max").map_or_else(|| "?".into(), |v| v.to_string()),
            ),
        ),
        (Errno::ENOMEM, _) => (
            K::OutOfMemory,
            format!("out of kernel memory opening message queue {name} (ENOMEM)"),
        ),
        (Errno::ENAMETOOLONG, _) => (
            K::InvalidInput,
            format!("message queue name {name} is too long (ENAMETOOLONG)"),
        ),
        (Errno::ENOSYS, _) => (
            K::Unsupported,
            "this kernel has no POSIX message queues (CONFIG_POSIX_MQUEUE)".to_owned(),
        ),
        (e, _) => return os_error(e, &format!("opening message queue {name}")),
    };
    io::Error::new(kind, msg)
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no message queue named {name}"),
    )
}

fn not_open_for(name: &str, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("message queue {name} is not open for {what}"),
    )
}

/// An OS error with what was being done, keeping its kind.
fn os_error(e: Errno, doing: &str) -> io::Error {
    let os = io::Error::from(e);
    io::Error::new(os.kind(), format!("{doing}: {os}"))
}
