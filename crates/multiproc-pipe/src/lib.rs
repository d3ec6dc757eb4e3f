//! Connections between processes: Python's `multiprocessing.Pipe`, for Rust.
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! let (mut parent, mut child) = multiproc_pipe::pipe()?;
//! // Fork here: the parent keeps `parent`, the child keeps `child`.
//! child.send(&vec![1u32, 2, 3])?;
//! assert_eq!(parent.recv::<Vec<u32>>()?, [1, 2, 3]);
//! # Ok(()) }
//! ```
//!
//! | Python | here |
//! |---|---|
//! | `Pipe()` → two duplex ends | [`pipe()`](pipe) → two [`Connection`]s |
//! | `Pipe(duplex=False)` → `(r, w)` | [`pipe_simplex()`](pipe_simplex) → ([`Receiver`], [`Sender`]) |
//! | `send(obj)`, `recv()` | [`send(&value)`](Connection::send), [`recv::<T>()`](Connection::recv) (serde + postcard) |
//! | `send_bytes(b)`, `recv_bytes()`, `recv_bytes_into(buf)` | [`send_bytes`](Connection::send_bytes), [`recv_bytes`](Connection::recv_bytes), [`recv_bytes_into`](Connection::recv_bytes_into) |
//! | `poll(timeout)` | [`poll(timeout)`](Connection::poll); [`try_recv`](Connection::try_recv), [`recv_timeout`](Connection::recv_timeout), [`recv_deadline`](Connection::recv_deadline) |
//! | `connection.wait(objs, timeout)` | [`wait(&ends, timeout)`](wait) |
//! | `EOFError` | [`RecvError::Disconnected`] |
//! | `BrokenPipeError` | [`SendError::Disconnected`] (never a SIGPIPE) |
//! | `BufferTooShort` | [`RecvError::BufferTooShort`], holding the whole message |
//! | pickling a `Value`, `Lock`, … in `send(obj)` | [`send(&value)`](Connection::send) with the object inside: it implements [`Transfer`] |
//! | pickling a `Connection` in `send(obj)` | [`send_owned(value)`](Connection::send_owned): ends move |
//! | `reduction.send_handle`, `recv_handle` | [`send_bytes_with_fds`](Connection::send_bytes_with_fds), [`recv_bytes_with_fds`](Connection::recv_bytes_with_fds); [`Fd`] in typed messages |
//! | `Listener(address, authkey=...)`, `Listener()` | [`Listener::bind(address, authkey)`](Listener::bind), [`Listener::bind_unix_temp(authkey)`](Listener::bind_unix_temp), [`Listener::builder()`](Listener::builder) |
//! | `listener.accept()`, `listener.address`, `listener.close()` | [`accept()`](Listener::accept), [`address()`](Listener::address), [`close()`](Listener::close) or drop |
//! | `Client(address, authkey=...)` | [`Client::connect(address, authkey)`](Client::connect), [`Client::builder()`](Client::builder) (connect and handshake timeouts) |
//! | `AuthenticationError` | [`ConnectError::AuthenticationFailed`] (and [`ConnectError::Protocol`] for a peer that does not speak the handshake) |
//!
//! # Messages
//!
//! Every message keeps its boundaries; an empty one is a message. Typed messages are
//! serialized with [postcard](https://docs.rs/postcard), which is not self-describing: the
//! receiver must ask for the type that was sent (`skip_serializing_if`, `flatten` and
//! `untagged` do not work). Bytes left over after decoding are an error
//! ([`RecvError::TrailingBytes`]), not silently ignored. The size of a message is capped
//! ([`Connection::set_max_message_size`], 1 GiB by default, above 4 GiB if set): a peer that
//! announces more gets the connection closed before anything is allocated for it.
//!
//! # Handing things to another process
//!
//! A process that already runs can be handed what it needs inside a typed message: the shared
//! objects of the other multiproc crates (`Value`, `Array`, `Atomic`, `Lock`, `RLock`,
//! `Condition`, `Event`, `Barrier`, `Semaphore`, …), files and sockets ([`Fd`]), and other
//! connection ends. Their fds travel beside the message's bytes (`SCM_RIGHTS`, at most
//! [`MAX_FDS`] per message, over Unix sockets only) and the receiver rebuilds each handle, after
//! checking it is the kind asked for: both processes then use the same object.
//!
//! Connection ends move: a stream must never have two readers. They go only with
//! [`send_owned`](Connection::send_owned), which takes the value and drops it once sent;
//! `send(&end)` is refused ([`SendError::Encode`]). Whatever the value held an end by (a
//! reference, an `Arc`), the end is dead in this process once the message has gone (even
//! partly): it reports [`RecvError::Disconnected`] and [`SendError::Disconnected`], and its fd
//! no longer holds the stream from its first use on (drop it so that the stream can end). An
//! end holding bytes it has read ahead but not yet received as messages, or whose stream broke,
//! refuses to travel. A received end keeps nothing of the sender's settings: its maximum
//! message size is the default, and socket options that change how it reads are reset. (The
//! raw forms — [`send_bytes_with_fds`](Connection::send_bytes_with_fds) of an end's `as_fd()`
//! — duplicate a socket without any of this; they are for fds of your own.)
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use multiproc_pipe::{pipe, pipe_simplex, Fd, Sender};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Job {
//!     input: Fd,       // a file: the receiver gets its own fd for it
//!     results: Sender, // a connection end: it moves
//! }
//!
//! let (mut control, mut worker) = pipe()?; // the worker would be another process
//! let (mut results, results_tx) = pipe_simplex()?;
//! let input = Fd::from(std::fs::File::open("/dev/null")?);
//! control.send_owned(Job { input, results: results_tx })?;
//!
//! let mut job: Job = worker.recv()?;
//! job.results.send(&"done")?;
//! assert_eq!(results.recv::<String>()?, "done");
//! # Ok(()) }
//! ```
//!
//! Fds that come with a message and that no value claims are closed. A type of your own that
//! wraps an fd can travel too: implement [`Transfer`] and route its serde through
//! [`transfer::serialize`] and [`transfer::deserialize`].
//!
//! # When the peer dies
//!
//! A receive reports [`RecvError::Disconnected`] as soon as the other end is gone — dropped,
//! or its process killed — after every whole message it sent has been received. A message it
//! was in the middle of sending is discarded, never presented as whole. A send to a dead peer
//! is [`SendError::Disconnected`].
//!
//! # Listener and Client
//!
//! A [`Listener`] bound to an [`Address`] (a Unix socket path, or TCP) accepts connections
//! from [`Client::connect`], each a [`Connection`] like a pipe's end. With an [`AuthKey`], the
//! two sides first run a mutual HMAC-SHA256 challenge–response: each proves it holds the key
//! without sending it, on fixed-size messages under a timeout (5 s by default), before any
//! message is decoded. A refused peer is [`ConnectError::AuthenticationFailed`] on both
//! sides. Without a key there is no handshake, as in Python. With a key on one side only,
//! what the keyed side reports depends on what the other does first:
//!
//! | key on | the side without a key first … | the keyed side gets | the side without a key gets |
//! |---|---|---|---|
//! | listener | sends | [`ConnectError::Protocol`], at once | a closed connection |
//! | listener | receives | [`ConnectError::Disconnected`], at once | [`RecvError::TooLarge`]: the challenge is no message |
//! | listener | neither | [`ConnectError::HandshakeTimeout`] | a closed connection |
//! | client | sends | [`ConnectError::Protocol`], at once | [`RecvError::TooLarge`]: the refusal is no message |
//! | client | receives | [`ConnectError::HandshakeTimeout`] | [`RecvError::Disconnected`] |
//!
//! The handshake authenticates; like Python's, it neither encrypts nor protects the messages
//! that follow. Unix socket files are created with mode 0600.
//!
//! # Transports
//!
//! [`pipe`] and [`pipe_simplex`] carry messages through shared memory
//! ([`Transport::SharedMemory`]): a ring per direction in a sealed memfd (256 KiB by default,
//! [`PipeBuilder::ring_capacity`]), and beside it a Unix socket pair per direction for what
//! memory cannot carry — fds, wake-ups, and the end of the peer. A message is copied into the
//! ring and out of it; one larger than the ring streams through in parts and is presented only
//! whole. No system call is made while the receiver is awake: a receive that finds nothing
//! watches the ring for up to 50 µs, then says it sleeps and sleeps on its socket, and a sender
//! rings that socket only then (one wake-up byte per sleep). Everything read from the ring or
//! the socket is checked: a corrupted or hostile peer gets the connection closed with
//! [`RecvError::Protocol`] or [`SendError::Protocol`], never a crash or an unbounded loop.
//!
//! [`PipeBuilder::transport`] forces [`Transport::Socket`]: a Unix stream socket pair (an
//! 8-byte header, then the bytes, written together; small messages read ahead many per
//! system call), which is also what a [`Listener`]'s connections use (Unix or TCP). Without
//! forcing, a pipe falls back to the socket where shared memory cannot be made.
//!
//! What differs between the two, and what does not:
//!
//! | | shared memory | socket |
//! |---|---|---|
//! | 64-byte round trip; one way (the workspace's benchmarks, this VM) | 0.8–2.1 µs; 3.4–5.3 M msgs/s | 4.1–5.1 µs; 0.6–1.1 M msgs/s |
//! | fds per end (a duplex end travelling in a message) | 4 (so at most 63 duplex ends per message) | 1 |
//! | a send to a peer that died | `Disconnected` when a wake-up is due, when the ring fills, or within 128 sends | `Disconnected` at once (what was buffered is lost) |
//! | an end with received messages not yet read | travels with them (they are in the ring) | refused with `Encode` until they are read (they were read ahead) |
//! | forked copies of an end used in turn (never at once) | fine both ways | senders fine; receivers read ahead, so no |
//! | both ends sending large messages to each other, neither reading | blocks once a ring is full (256 KiB) | blocks once the socket buffers are full |
//!
//! Both: messages keep their boundaries; the peer's end (dropped, or killed: the kernel
//! closes its sockets) is [`RecvError::Disconnected`] once its whole messages are received;
//! timeouts hold; [`wait`] and [`poll`](Connection::poll) see messages and the end. For an
//! event loop on [`AsFd`](std::os::fd::AsFd): after each readiness, and after any receive that
//! returned a message, receive with `try_recv` until [`RecvError::Empty`] before waiting on
//! the fd again — a message may wait that the fd does not announce (read ahead over a socket;
//! announced only to a receiver that said it sleeps over shared memory, which `Empty` says).
//!
//! One end has one user: its methods take `&mut self`. The spin before sleeping adapts: it
//! fades after a few fruitless waits, so an idle peer costs no CPU, and it never runs on a
//! one-CPU machine. Linux only.

#![cfg(target_os = "linux")]

mod auth;
mod channel;
mod connection;
mod error;
mod fd;
mod link;
mod listener;
mod shm;
mod sys;

pub use crate::{
    auth::AuthKey,
    channel::{DEFAULT_MAX_MESSAGE, MAX_FDS, MAX_MESSAGE_LIMIT},
    connection::{
        pipe, pipe_simplex, wait, Connection, PipeBuilder, Receiver, Sender, Transport, Waitable,
    },
    error::{ConnectError, NotSent, RecvError, SendError},
    fd::Fd,
    listener::{
        Address, Client, ClientBuilder, Listener, ListenerBuilder, DEFAULT_BACKLOG,
        DEFAULT_HANDSHAKE_TIMEOUT,
    },
    shm::DEFAULT_RING_CAPACITY,
};

/// Handles inside typed messages: the [`Transfer`] trait that shared objects and connection
/// ends implement, and `serialize`/`deserialize` for a handle type of your own (usable as
/// `#[serde(with = "multiproc_pipe::transfer")]`).
pub mod transfer {
    pub use multiproc_internal::transfer::{deserialize, serialize, Transfer};
}

pub use transfer::Transfer;
