//! Python's `multiprocessing`, done right, for Rust.
//!
//! `multiproc` brings the model of Python's `multiprocessing` to Rust as a family of small
//! crates, re-exported here one feature each: as easy as Python's module, an order of
//! magnitude faster, and without hangs, leaks or undefined behaviour when a peer dies.
//!
//! ```
//! use multiproc::Value;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let counter = Value::new(0u64)?;
//! // Processes forked from here share `counter`; each increments it under its robust lock.
//! counter.with_lock(|n| *n += 1)?;
//! assert_eq!(counter.get()?, 1);
//! # Ok(()) }
//! ```
//!
//! # Python → Rust
//!
//! | Python | multiproc | notes |
//! |---|---|---|
//! | `Process(target=f, name=n, daemon=d)` | [`Process::new(f)`](Process::new), [`process::Builder::new().name(n).daemon(d).process(f)`](process::Builder) | a closure runs under the `fork` start method, in a copy of this process |
//! | `p.start()`, `p.join()`, `p.join(t)` | [`start`](Process::start), [`join`](Process::join), [`join_timeout`](Process::join_timeout) | `start` twice or `join` before `start` is a typed error |
//! | `p.pid`, `p.name`, `p.daemon`, `p.is_alive()` | [`pid()`](Process::pid), [`name()`](Process::name), [`is_daemon()`](Process::is_daemon), [`is_alive()`](Process::is_alive) | |
//! | `p.exitcode` | [`exit_status()`](Process::exit_status), [`exitcode()`](Process::exitcode) | an enum (exited with N, or killed by signal N), and Python's `-N` view |
//! | `p.terminate()`, `p.kill()`, `p.sentinel` | [`terminate`](Process::terminate), [`kill`](Process::kill), [`sentinel`](Process::sentinel) (or `AsFd`) | through a pidfd: never a recycled pid |
//! | subclass `Process`, override `run` | [`process::Run`] and [`Process::from_run`] | |
//! | `Process(target=f, args=(a,))`, any start method | [`Process::from_fn(f, a)`](Process::from_fn), [`process::spawn_fn(f, a)`](process::spawn_fn) | `f` a `fn` item; `a` serializable, shared objects inside it travel as fds |
//! | `set_start_method('spawn' / 'forkserver')` | [`process::set_start_method(StartMethod::Spawn)`](process::set_start_method), [`process::Builder::start_method`] | nothing to add to `main`: an entry hook runs the child (and the forkserver) |
//! | (a return value: `Pool.apply`) | [`spawn(f)`](spawn) → [`JoinHandle::join`](process::JoinHandle::join) | `std::thread::spawn` with processes: the value, or the panic's message as an error |
//! | `Pool(n)`, `Pool(n, initializer, initargs, maxtasksperchild)` | [`Pool::new(n)`](Pool::new), [`Pool::builder()`](Pool::builder) | no threads: callers drive it; a worker's death fails only its task, with an error |
//! | `pool.apply(f, (a,))`, `apply_async(...).get(timeout)` | [`apply`](Pool::apply), [`apply_async`](Pool::apply_async) → [`process::AsyncResult`] (`get`, `get_timeout`, `wait`, `ready`, `successful`, [`then`](process::AsyncResult::then) for callbacks) | `f` a `fn` item; `a` and the result serializable |
//! | `pool.map`, `map_async`, `starmap`, `imap`, `imap_unordered` (`chunksize`) | [`map`](Pool::map), [`map_async`](Pool::map_async), [`starmap`](Pool::starmap), [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered); `_chunked` forms | Python's default chunk size; `imap` reads its input lazily |
//! | `pool.close()`, `join()`, `terminate()`, `with Pool() as p:` | [`close`](Pool::close), [`join`](Pool::join), [`terminate`](Pool::terminate); dropping the pool | terminate: SIGTERM, SIGKILL after 1 s; never hangs |
//! | daemon children at exit; killed parent | [`process::Builder::daemon`] | SIGTERM at normal exit; SIGKILL when the parent dies in any way, even from a thread that ended |
//! | `current_process()`, `parent_process()`, `active_children()`, `cpu_count()` | [`process::current_process`], [`process::parent_process`], [`process::active_children`], [`process::cpu_count`] | `cpu_count` follows the affinity mask |
//! | `os.fork()`, `os.wait()`, `os.waitpid(pid, WNOHANG)` | [`process::os::fork`] (`unsafe`), [`process::os::wait`], [`process::os::waitpid`] | |
//! | double fork (no zombie) | [`process::os::double_fork`] | |
//! | `os.getpid()`, `os.getppid()`, `sys.exit(n)`, `os._exit(n)` | [`process::os::getpid`], [`process::os::getppid`], [`process::os::exit`], [`process::os::_exit`] | `exit` in a child unwinds to its start (destructors run) |
//! | `Value('Q', 0)` | [`Value::new(0u64)`](Value::new) | robust lock: a dead holder is reported, never a hang |
//! | `v.value` / `v.value = x` | [`v.get()?`](Value::get) / [`v.set(x)?`](Value::set) | each takes the lock once |
//! | `with v.get_lock(): v.value += 1` | [`v.with_lock(\|x\| *x += 1)?`](Value::with_lock), or a guard from [`v.lock()`](Value::lock) | locking twice in one thread is an error, not a deadlock |
//! | `RawValue('d', 1.5)` | [`RawValue::new(1.5f64)`](RawValue::new) | no lock; copies may tear, never UB |
//! | `Array('i', 10)` | [`Array::<i32>::zeroed(10)`](Array::zeroed) | `bool` and `#[derive(Pod)]` structs work too |
//! | `Array('i', [1, 2])` | [`Array::from_slice(&[1, 2])`](Array::from_slice) | |
//! | `a[i]`, `a[i] = x` | [`a.get(i)?`](Array::get), [`a.set(i, x)?`](Array::set) | out of range is an error |
//! | `a[s:e]`, `a[s:e] = xs` | [`a.read(s, &mut buf)?`](Array::read), [`a.write(s, &xs)?`](Array::write) | |
//! | `with a.get_lock(): …` | [`a.with_lock(\|all\| …)?`](Array::with_lock), [`a.lock()`](Array::lock) | the guard is a `&mut [T]` |
//! | `RawArray('d', 4)` | [`RawArray::<f64>::zeroed(4)`](RawArray::zeroed) | |
//! | — | [`Atomic::new(0u64)`](Atomic::new) | lock-free `fetch_add`, `compare_exchange` across processes |
//! | `SharedMemory(create=True, size=n)` | [`SharedMemory::create(n)`](SharedMemory::create) | `create_named(name, n)` for a chosen name |
//! | `SharedMemory(name)` | [`SharedMemory::open(name)`](SharedMemory::open) | |
//! | `shm.buf[a:b]` | [`shm.read(a, &mut buf)`](SharedMemory::read), [`shm.write(a, data)`](SharedMemory::write) | atomics at aligned offsets; `unsafe` slices |
//! | `shm.close()`, `shm.unlink()` | [`close()`](SharedMemory::close), [`unlink()`](SharedMemory::unlink) | the creator also unlinks on drop unless [`keep()`](SharedMemory::keep) |
//! | resource tracker | [`shm::cleanup()`](shm::cleanup), [`shm::cleanup_with_prefix(p)`](shm::cleanup_with_prefix) | removes segments whose creator died |
//! | `os.kill(pid, signal.SIGTERM)` | [`signal::kill(pid, Signal::Term)`](signal::kill), [`PidFd::send`](signal::PidFd::send) | a pidfd never reaches a recycled pid |
//! | `signal.alarm(n)`, `setitimer`, `getitimer` | [`signal::alarm`], [`signal::set_timer`], [`signal::get_timer`] | |
//! | `signal.signal(sig, handler)` | [`Signals`], [`signal::spawn_handler`] | handlers run as ordinary Rust, outside signal context |
//! | `signal.signal(sig, SIG_IGN / SIG_DFL)` | [`signal::ignore`], [`signal::set_default`] | SIGKILL/SIGSTOP refused with an error |
//! | `signal.pause()`, `sigwait`, `sigtimedwait` | [`signal::pause`], [`signal::suspend`], [`signal::wait`], [`signal::wait_timeout`] | `suspend` is the race-free pause |
//! | `signal.pthread_sigmask` | [`signal::block`], [`signal::unblock`] | a guard restores the mask |
//! | `signal.signal(SIGCHLD, SIG_IGN)` | [`signal::ignore_children`] | exit statuses are then gone |
//! | `Semaphore(n)`, `BoundedSemaphore(n)` | [`Semaphore::new(n)`](Semaphore::new), [`BoundedSemaphore::new(n)`](BoundedSemaphore::new) | shared by fork, fd or name |
//! | `sem.acquire(timeout=t)`, `sem.release()` | [`acquire_timeout(t)`](Semaphore::acquire_timeout), [`release()`](Semaphore::release) | bounded: over-release is an error |
//! | `with sem:` | [`sem.access()`](Semaphore::access) | a guard |
//! | `Lock()`, `with lock:` | [`Lock::new()`](Lock::new), a guard from [`lock.lock()`](Lock::lock) | robust: a dead holder is [`LockError::OwnerDied`](sync::LockError::OwnerDied) for the next acquirer |
//! | `lock.acquire(timeout=t)`, `acquire(False)` | [`lock_timeout(t)`](Lock::lock_timeout), [`try_lock()`](Lock::try_lock) | locking twice in one thread is an error, not a deadlock |
//! | `RLock()`: `acquire`, `release` | [`RLock`]: guards from [`lock()`](RLock::lock), or [`acquire()`](RLock::acquire) / [`release()`](RLock::release) | releasing by a non-owner is [`LockError::NotOwner`](sync::LockError::NotOwner) |
//! | `Condition(lock)`: `wait(timeout)`, `wait_for(pred)`, `notify(n)`, `notify_all()` | [`Condition`]: [`wait_timeout(guard, t)`](Condition::wait_timeout), [`wait_while(guard, \|g\| !pred)`](Condition::wait_while), [`notify(n)`](Condition::notify), [`notify_all()`](Condition::notify_all) | waits with a `Lock`, `RLock` or `Value` guard |
//! | `Event()`: `set`, `clear`, `is_set`, `wait(timeout)` | [`Event`]: [`set`](Event::set), [`clear`](Event::clear), [`is_set`](Event::is_set), [`wait`](Event::wait), [`wait_timeout`](Event::wait_timeout) | a set is never missed by a waiter, even if cleared at once |
//! | `Barrier(n)`: `wait`, `abort`, `reset`, `broken`, `n_waiting` | [`Barrier`]: [`wait`](Barrier::wait), [`wait_timeout`](Barrier::wait_timeout), [`abort`](Barrier::abort), [`reset`](Barrier::reset), [`is_broken`](Barrier::is_broken), [`n_waiting`](Barrier::n_waiting) | a timeout breaks it for everyone, as in Python |
//! | `Pipe()`, `Pipe(duplex=False)` | [`pipe::pipe()`](pipe::pipe), [`pipe::pipe_simplex()`](pipe::pipe_simplex) | simplex ends are separate `Receiver`/`Sender` types; messages go through shared memory (≈ 0.8 µs round trip), or a socket with [`pipe::PipeBuilder`] |
//! | `conn.send(obj)`, `conn.recv()` | [`conn.send(&value)?`](Connection::send), [`conn.recv::<T>()?`](Connection::recv) | serde + postcard; trailing bytes are an error |
//! | `send_bytes`, `recv_bytes`, `recv_bytes_into` | [`send_bytes`](Connection::send_bytes), [`recv_bytes`](Connection::recv_bytes), [`recv_bytes_into`](Connection::recv_bytes_into) | a too-short buffer hands the message back |
//! | `conn.poll(t)`, `connection.wait(objs, t)` | [`conn.poll(t)`](Connection::poll), [`pipe::wait(&ends, t)`](pipe::wait) | also `try_recv`, `recv_timeout` |
//! | `EOFError`, `BrokenPipeError` | [`RecvError::Disconnected`](pipe::RecvError::Disconnected), [`SendError::Disconnected`](pipe::SendError::Disconnected) | never a SIGPIPE |
//! | a `Value`, `Lock`, … pickled into `conn.send(obj)` | [`conn.send(&msg)?`](Connection::send) with the object inside | shared objects implement [`Transfer`](pipe::Transfer): the receiver gets the same object |
//! | a `Connection` pickled into `conn.send(obj)` | [`conn.send_owned(msg)?`](Connection::send_owned) | ends move: never two readers |
//! | `connection.Listener(address, authkey=k)`, `Client(address, authkey=k)` | [`pipe::Listener::bind(addr, Some(k))`](pipe::Listener::bind), [`pipe::Client::connect(addr, Some(k))`](pipe::Client::connect) | Unix path or TCP; mutual HMAC-SHA256 with a handshake timeout |
//! | `AuthenticationError` | [`pipe::ConnectError::AuthenticationFailed`] | reported on both sides |
//! | `reduction.send_handle`, `recv_handle` | [`send_bytes_with_fds`](Connection::send_bytes_with_fds), [`recv_bytes_with_fds`](Connection::recv_bytes_with_fds), [`pipe::Fd`] | Unix sockets only |
//! | `Queue(maxsize)` | [`Queue::new(maxsize)`](Queue::new), [`Queue::builder()`](Queue::builder) | no feeder thread; a count limit and a byte capacity; items larger than the ring stream through it |
//! | `q.put(x)`, `put(x, timeout=t)`, `put_nowait(x)` | [`put`](Queue::put), [`put_timeout`](Queue::put_timeout), [`try_put`](Queue::try_put) | `Full` gives the item back and says which limit bound |
//! | `q.get()`, `get(timeout=t)`, `get_nowait()` | [`get`](Queue::get), [`get_timeout`](Queue::get_timeout), [`try_get`](Queue::try_get) | [`mqueue::GetError::Empty`] |
//! | `qsize()`, `empty()`, `full()`, `close()` | [`len`](Queue::len), [`is_empty`](Queue::is_empty), [`is_full`](Queue::is_full), [`close`](Queue::close) | `close` is for every process: consumers drain, then get `Closed` |
//! | `JoinableQueue`: `task_done()`, `join()` | [`JoinableQueue::task_done`], [`JoinableQueue::join`], [`JoinableQueue::join_timeout`] | one `task_done` too many is an error |
//! | `SimpleQueue()` | [`SimpleQueue::new()`](SimpleQueue::new) | |
//! | (a consumer dies; Python's producers hang) | [`mqueue::PutError::Disconnected`], [`mqueue::GetError::Disconnected`] | a waiting put or get is told when the other side has exited |
//! | POSIX `mq_open` (no stdlib binding) | [`mqueue::PosixMq`] | priorities, timeouts, pollable |
//!
//! The full mapping, including what is still to come, is in the repository's
//! `docs/python-mapping.md`.
//!
//! # Crates
//!
//! * [`shm`] (feature `shm`, default): `Value`, `Array`, `RawValue`, `RawArray`, `Atomic`,
//!   `SharedMemory`.
//! * [`signal`] (feature `signal`, default): `Signal`, `kill`, `PidFd`, `alarm`, timers, masks,
//!   waiting, handlers.
//! * [`semaphore`] (feature `semaphore`, default): `Semaphore`, `BoundedSemaphore`.
//! * [`sync`] (feature `sync`, default): `Lock`, `RLock`, `Condition`, `Event`, `Barrier`.
//! * [`pipe`] (feature `pipe`, default): `pipe`, `pipe_simplex`, `Connection`, `wait`.
//! * [`mqueue`] (feature `mqueue`, default): `Queue`, `JoinableQueue`, `SimpleQueue`, `PosixMq`.
//! * [`process`] (feature `process`, default): `Process`, `spawn`, `JoinHandle`,
//!   `current_process`, `active_children`, `cpu_count`, and `os` (`fork`, `wait`, `waitpid`, a
//!   double fork).
//!
//! Linux only.

#![forbid(unsafe_code)]

/// Shared memory: `Value`, `Array`, `Atomic`, `SharedMemory` (crate `multiproc-shm`).
#[cfg(feature = "shm")]
#[doc(inline)]
pub use multiproc_shm as shm;

#[cfg(feature = "shm")]
#[doc(inline)]
pub use multiproc_shm::{Array, Atomic, RawArray, RawValue, SharedMemory, Value};

/// Unix signals: `kill`, `alarm`, timers, masks, waiting, handlers (crate `multiproc-signal`).
#[cfg(feature = "signal")]
#[doc(inline)]
pub use multiproc_signal as signal;

#[cfg(feature = "signal")]
#[doc(inline)]
pub use multiproc_signal::{Pid, Signal, Signals};

/// Counting and bounded semaphores across processes (crate `multiproc-semaphore`).
#[cfg(feature = "semaphore")]
#[doc(inline)]
pub use multiproc_semaphore as semaphore;

#[cfg(feature = "semaphore")]
#[doc(inline)]
pub use multiproc_semaphore::{BoundedSemaphore, Semaphore};

/// Synchronisation: `Lock`, `RLock`, `Condition`, `Event`, `Barrier` (crate `multiproc-sync`).
#[cfg(feature = "sync")]
#[doc(inline)]
pub use multiproc_sync as sync;

#[cfg(feature = "sync")]
#[doc(inline)]
pub use multiproc_sync::{Barrier, Condition, Event, Lock, RLock};

/// Pipes between processes: `pipe`, `pipe_simplex`, `Connection`, `wait` (crate
/// `multiproc-pipe`).
#[cfg(feature = "pipe")]
#[doc(inline)]
pub use multiproc_pipe as pipe;

#[cfg(feature = "pipe")]
#[doc(inline)]
pub use multiproc_pipe::Connection;

/// Queues between processes: `Queue`, `JoinableQueue`, `SimpleQueue`, `PosixMq` (crate
/// `multiproc-mqueue`).
#[cfg(feature = "mqueue")]
#[doc(inline)]
pub use multiproc_mqueue as mqueue;

#[cfg(feature = "mqueue")]
#[doc(inline)]
pub use multiproc_mqueue::{JoinableQueue, Queue, SimpleQueue};

/// Processes: `Process`, `spawn`, `JoinHandle`, `Pool`, `current_process`,
/// `active_children`, `os` (crate `multiproc-process`).
#[cfg(feature = "process")]
#[doc(inline)]
pub use multiproc_process as process;

#[cfg(feature = "process")]
#[doc(inline)]
pub use multiproc_process::{spawn, Pool, Process};

/// The common types in one import: `use multiproc::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "mqueue")]
    #[doc(no_inline)]
    pub use multiproc_mqueue::{GetError, JoinableQueue, PutError, Queue, SimpleQueue};
    #[cfg(feature = "pipe")]
    #[doc(no_inline)]
    pub use multiproc_pipe::{Connection, Receiver, RecvError, SendError, Sender};
    #[cfg(feature = "process")]
    #[doc(no_inline)]
    pub use multiproc_process::{
        active_children, cpu_count, current_process, parent_process, spawn, spawn_fn, AsyncResult,
        ExitStatus, JoinError, JoinHandle, Pool, PoolError, Process, ProcessError, Run,
        StartMethod,
    };
    #[cfg(feature = "semaphore")]
    #[doc(no_inline)]
    pub use multiproc_semaphore::{BoundedSemaphore, Semaphore};
    #[cfg(feature = "shm")]
    #[doc(no_inline)]
    pub use multiproc_shm::{
        AccessError, Array, Atomic, LockError, RawArray, RawValue, SharedMemory, TryLockError,
        Value,
    };
    #[cfg(feature = "signal")]
    #[doc(no_inline)]
    pub use multiproc_signal::{Pid, PidFd, Signal, SignalError, Signals};
    #[cfg(feature = "sync")]
    #[doc(no_inline)]
    pub use multiproc_sync::{
        Barrier, BrokenBarrier, Condition, Event, Lock, LockGuard, RLock, RLockGuard,
    };
}
