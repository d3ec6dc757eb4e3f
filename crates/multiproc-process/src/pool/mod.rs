//! [`Pool`]: Python's `multiprocessing.Pool`, without its hangs.

mod driver;
mod error;
mod result;
mod worker;

pub use self::error::PoolError;
pub use self::result::{AsyncResult, IMap};

use self::driver::{Chunk, Config, InitTemplate, Shared, Task};
use self::result::{Collect, Feeder};
use crate::{exec, sys, StartMethod};
use multiproc_internal::transfer;
use multiproc_signal::Pid;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A pool of worker processes that run `fn` items on arguments: Python's
/// `multiprocessing.Pool`.
///
/// ```
/// use multiproc_process::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = Pool::new(2)?;
/// assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// let r = pool.apply_async(square, 12)?;
/// assert_eq!(r.get()?, 144);
/// # Ok::<(), multiproc_process::PoolError>(())
/// ```
///
/// # Tasks
///
/// A task is a `fn(A) -> R` (a `fn` item, or a closure that captures nothing) and an
/// argument; `A` and `R` travel encoded with postcard, under every start method (the
/// function travels as an offset in the executable, as for
/// [`spawn_fn`](crate::spawn_fn)). Arguments cannot carry handles (a `Queue`, a `Lock`, a
/// connection end): give those to the workers through the
/// [`initializer`](PoolBuilder::initializer)'s argument, or, under `fork`, create them
/// before the pool.
///
/// # Failures
///
/// - A task that panics: its result is [`PoolError::Panicked`] with the panic's message;
///   the worker goes on. A task returning a `Result` gives it back as it is.
/// - A worker that dies (killed, crashed, or ended with `exit`), whatever it was doing:
///   the task it held fails with [`PoolError::WorkerDied`], naming its pid and how it ended,
///   as soon as the pool sees it (its pidfd); tasks it had not started run on other
///   workers, and a new worker takes its place. (Python's `Pool` waits forever here.) A
///   worker that dies at the very moment a task is handed to it takes that task with it.
/// - An initializer that panics, or ends its worker three times in a row: every task fails
///   with [`PoolError::Initializer`] (Python starts worker after worker, forever).
/// - [`terminate`](Pool::terminate), and dropping the pool, end every worker (SIGTERM,
///   SIGKILL after a second) and fail what is pending with [`PoolError::Terminated`].
///
/// # No threads
///
/// The pool has no thread of its own (Python's has three): the callers drive it. Every
/// wait on the pool — [`AsyncResult::get`], an [`IMap`] step, [`join`](Pool::join), a
/// blocking [`map`](Pool::map) — hands tasks to idle workers, takes in results and watches
/// the workers while it waits. A submission hands out at once what the workers can take (a
/// task or two each, more when tasks are short); the rest is handed out while some caller
/// waits on the pool. An `imap` reads its input as its results are consumed, never more
/// than a bounded number of chunks ahead, so an endless input is fine. Several threads may
/// use one pool: one drives at a time, the others sleep until it delivers.
///
/// # Chunks
///
/// `map`, `starmap` and their `_async` forms split the input into chunks of
/// `chunksize` items, a task each; without one (`map`), Python's rule: the length over four
/// times the number of workers, rounded up. `imap` takes one item per task unless told.
/// Chunks amortise the cost of a task (a few microseconds) over many items; a failed chunk
/// fails the whole call, or yields one error in an `imap`.
pub struct Pool {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.shared.config.processes)
            .field("start_method", &self.shared.config.method)
            .finish_non_exhaustive()
    }
}

/// Options for a [`Pool`]: Python's `Pool(processes, initializer, initargs,
/// maxtasksperchild)` and the start method.
#[must_use]
pub struct PoolBuilder {
    processes: Option<usize>,
    method: Option<StartMethod>,
    max_tasks: Option<u64>,
    init: Option<Result<InitTemplate, PoolError>>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("start_method", &self.method)
            .field("max_tasks_per_child", &self.max_tasks)
            .field("initializer", &self.init.is_some())
            .finish()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks that a task's code can be found by a worker started by `exec`.
fn check_code(method: StartMethod, code: &[usize]) -> Result<(), PoolError> {
    if method == StartMethod::Fork || sys::code_in_executable(code) {
        Ok(())
    } else {
        Err(PoolError::Process(crate::ProcessError::Unsupported(
            "the spawn and forkserver start methods need multiproc-process and the function \
             linked into the main executable (not a shared library)",
        )))
    }
}

impl PoolBuilder {
    /// The defaults: [`cpu_count`](crate::cpu_count) workers, the default start method, no
    /// initializer, workers that live as long as the pool.
    pub fn new() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            method: None,
            max_tasks: None,
            init: None,
        }
    }

    /// The number of worker processes (at least 1).
    pub fn processes(mut self, n: usize) -> PoolBuilder {
        self.processes = Some(n);
        self
    }

    /// How the workers are started (default: [`get_start_method`](crate::get_start_method)).
    pub fn start_method(mut self, method: StartMethod) -> PoolBuilder {
        self.method = Some(method);
        self
    }

    /// Each worker ends after this many tasks (a chunk is a task) and is replaced by a fresh
    /// one: Python's `maxtasksperchild`, to bound what a worker leaks.
    pub fn max_tasks_per_child(mut self, n: u64) -> PoolBuilder {
        self.max_tasks = Some(n);
        self
    }

    /// Runs `f(arg)` in every worker as it starts, before any task: Python's `initializer`
    /// and `initargs`. `arg` is encoded once; each worker gets its own copy, and the shared
    /// objects inside it (a `Lock`, a `Value`, a `Queue`, …) reach every worker, under every
    /// start method — the way to give tasks such objects (store them in a `static`). If the
    /// initializer panics, the pool cannot run tasks: they fail with
    /// [`PoolError::Initializer`].
    pub fn initializer<I>(mut self, f: fn(I), arg: I) -> PoolBuilder
    where
        I: Serialize + DeserializeOwned + 'static,
    {
        let trampoline = sys::unit_trampoline::<I> as sys::Trampoline;
        let encoded = match exec::encode_arg(&arg, false) {
            Ok((arg, collected)) => Ok(InitTemplate {
                trampoline: sys::code_offset(trampoline as usize),
                func: sys::code_offset(f as usize),
                arg,
                fds: collected.fds,
            }),
            Err(e) => Err(PoolError::Encode(e.to_string())),
        };
        // The code is checked in `build`, when the start method is known.
        self.init = Some(encoded);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// [`PoolError::Argument`] for 0 processes or a `max_tasks_per_child` of 0;
    /// [`PoolError::Encode`] if the initializer's argument could not be encoded;
    /// [`PoolError::Process`] if a worker could not be started.
    pub fn build(self) -> Result<Pool, PoolError> {
        let processes = self.processes.unwrap_or_else(crate::cpu_count);
        if processes == 0 {
            return Err(PoolError::Argument(
                "a pool needs at least one worker process".into(),
            ));
        }
        if self.max_tasks == Some(0) {
            return Err(PoolError::Argument(
                "max_tasks_per_child must be at least 1".into(),
            ));
        }
        let method = self.method.unwrap_or_else(crate::get_start_method);
        let init = self.init.transpose()?;
        if let Some(t) = &init {
            check_code(method, &[sys::code_at(t.trampoline), sys::code_at(t.func)])?;
        }
        let shared = Shared::new(Config {
            processes,
            method,
            max_tasks: self.max_tasks.unwrap_or(0),
            init,
        })?;
        Ok(Pool {
            shared: Arc::new(shared),
        })
    }
}

/// A chunk's task message: the header (its seq written when handed out), then the chunk.
fn task_message<T: Serialize + ?Sized>(
    trampoline: u64,
    func: u64,
    chunk: &T,
) -> Result<Vec<u8>, PoolError> {
    let mut msg = Vec::with_capacity(64);
    msg.push(worker::TASK);
    msg.extend_from_slice(&0u64.to_le_bytes());
    msg.extend_from_slice(&trampoline.to_le_bytes());
    msg.extend_from_slice(&func.to_le_bytes());
    let (msg, collected) = transfer::collect(false, || postcard::to_extend(chunk, msg));
    if collected.error.is_some() || !collected.fds.is_empty() {
        return Err(PoolError::Encode(
            "a task's argument cannot carry a handle (a queue, lock, connection, fd): hand \
             those to the workers through the pool's initializer"
                .into(),
        ));
    }
    msg.map_err(|e| PoolError::Encode(e.to_string()))
}

/// A task message packaged for the ring, with its number of items.
fn chunk(msg: Vec<u8>, items: usize) -> Result<Chunk, PoolError> {
    let (msg, file) = driver::package(msg)?;
    Ok(Chunk {
        msg,
        file,
        items: u32::try_from(items)
            .map_err(|_| PoolError::Argument("a chunk of more than 2^32-1 items".into()))?,
    })
}

/// Python's default chunk size for `map`: the length over four times the workers, rounded
/// up.
fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(workers * 4).max(1)
}

fn check_chunksize(chunksize: usize) -> Result<(), PoolError> {
    if chunksize == 0 {
        return Err(PoolError::Argument("a chunk size of 0".into()));
    }
    Ok(())
}

/// How many chunks an `imap` keeps queued or running beyond those taken.
fn imap_ahead(workers: usize) -> u64 {
    workers as u64 * 64 + 2
}

impl Pool {
    /// A pool of `processes` workers, started with the default start method.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`].
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        PoolBuilder::new().processes(processes).build()
    }

    /// Options for a pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    /// The number of workers.
    pub fn processes(&self) -> usize {
        self.shared.config.processes
    }

    /// The start method of the workers.
    pub fn start_method(&self) -> StartMethod {
        self.shared.config.method
    }

    /// The pids of the workers running now (replacements included; empty once the pool
    /// has ended).
    pub fn pids(&self) -> Vec<Pid> {
        self.shared.lock().pids.clone()
    }

    /// Queues a job's chunks (a task each).
    fn submit(
        &self,
        chunks: Vec<Chunk>,
        make_sink: impl FnOnce(Vec<u32>) -> Box<dyn driver::Sink>,
    ) -> Result<u64, PoolError> {
        let sizes = chunks.iter().map(|c| c.items).collect();
        let mut st = self.shared.lock();
        if let Some(e) = st.refuses() {
            return Err(e);
        }
        let job = st.new_job(make_sink(sizes));
        st.queue
            .extend(chunks.into_iter().enumerate().map(|(i, c)| Task {
                job,
                chunk: i as u64,
                msg: c.msg,
                file: c.file,
            }));
        drop(st);
        self.shared.kick()?;
        Ok(job)
    }

    /// The offsets of a task's trampoline and function, once checked that the workers can
    /// find them.
    fn code_offsets(
        &self,
        (trampoline, func): (sys::PoolTrampoline, usize),
    ) -> Result<(u64, u64), PoolError> {
        check_code(self.shared.config.method, &[trampoline as usize, func])?;
        Ok((
            sys::code_offset(trampoline as usize),
            sys::code_offset(func),
        ))
    }

    /// Encodes `items` in chunks of `chunksize` for the function at these offsets.
    fn chunks<T: Serialize>(
        &self,
        code: (sys::PoolTrampoline, usize),
        items: &[T],
        chunksize: usize,
    ) -> Result<Vec<Chunk>, PoolError> {
        let (t, f) = self.code_offsets(code)?;
        items
            .chunks(chunksize)
            .map(|c| chunk(task_message(t, f, c)?, c.len()))
            .collect()
    }

    /// Runs `f(arg)` in a worker and waits for its result: Python's `apply`.
    ///
    /// # Errors
    ///
    /// See [`PoolError`]: the task's failure, or a closed or terminated pool.
    pub fn apply<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<R, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Queues `f(arg)` and returns at once: Python's `apply_async`. Its result comes from
    /// [`AsyncResult::get`] (or a callback: [`AsyncResult::then`]).
    ///
    /// # Errors
    ///
    /// [`PoolError::Closed`] and [`PoolError::Terminated`] for a pool that takes no tasks;
    /// [`PoolError::Encode`] if `arg` cannot be encoded.
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let code = (
            sys::pool_trampoline::<A, R> as sys::PoolTrampoline,
            f as usize,
        );
        let chunks = self.chunks(code, std::slice::from_ref(&arg), 1)?;
        let job = self.submit(chunks, |s| Box::new(Collect::<R>::new(s)))?;
        Ok(AsyncResult::new(
            self.shared.clone(),
            job,
            result::take_one::<R>,
        ))
    }

    /// `f` applied to every item, in order: Python's `map`, with its default chunk size.
    ///
    /// # Errors
    ///
    /// The first failure of a task (the others' results are dropped), or a closed or
    /// terminated pool.
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(f, items)?.get()
    }

    /// [`map`](Pool::map) with chunks of `chunksize` items.
    ///
    /// # Errors
    ///
    /// As [`map`](Pool::map); [`PoolError::Argument`] for a chunk size of 0.
    pub fn map_chunked<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async_chunked(f, items, chunksize)?.get()
    }

    /// [`map`](Pool::map), returning at once: Python's `map_async`.
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Pool::apply_async).
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let items: Vec<A> = items.into_iter().collect();
        let chunksize = default_chunksize(items.len(), self.processes());
        self.map_items(f, &items, chunksize)
    }

    /// [`map_async`](Pool::map_async) with chunks of `chunksize` items.
    ///
    /// # Errors
    ///
    /// As [`map_chunked`](Pool::map_chunked).
    pub fn map_async_chunked<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        check_chunksize(chunksize)?;
        let items: Vec<A> = items.into_iter().collect();
        self.map_items(f, &items, chunksize)
    }

    fn map_items<A, R>(
        &self,
        f: fn(A) -> R,
        items: &[A],
        chunksize: usize,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let code = (
            sys::pool_trampoline::<A, R> as sys::PoolTrampoline,
            f as usize,
        );
        let chunks = self.chunks(code, items, chunksize)?;
        let job = self.submit(chunks, |s| Box::new(Collect::<R>::new(s)))?;
        Ok(AsyncResult::new(
            self.shared.clone(),
            job,
            result::take_list::<R>,
        ))
    }

    /// `f(a, b)` for every pair, in order: Python's `starmap` (for more arguments, take a
    /// tuple and use [`map`](Pool::map)).
    ///
    /// # Errors
    ///
    /// As [`map`](Pool::map).
    pub fn starmap<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let chunksize = default_chunksize(items.len(), self.processes());
        self.starmap_items(f, &items, chunksize)?.get()
    }

    /// [`starmap`](Pool::starmap) with chunks of `chunksize` pairs.
    ///
    /// # Errors
    ///
    /// As [`map_chunked`](Pool::map_chunked).
    pub fn starmap_chunked<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
        chunksize: usize,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        check_chunksize(chunksize)?;
        let items: Vec<(A, B)> = items.into_iter().collect();
        self.starmap_items(f, &items, chunksize)?.get()
    }

    /// [`starmap`](Pool::starmap), returning at once: Python's `starmap_async`.
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Pool::apply_async).
    pub fn starmap_async<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let chunksize = default_chunksize(items.len(), self.processes());
        self.starmap_items(f, &items, chunksize)
    }

    fn starmap_items<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: &[(A, B)],
        chunksize: usize,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let code = (
            sys::pool_trampoline2::<A, B, R> as sys::PoolTrampoline,
            f as usize,
        );
        let chunks = self.chunks(code, items, chunksize)?;
        let job = self.submit(chunks, |s| Box::new(Collect::<R>::new(s)))?;
        Ok(AsyncResult::new(
            self.shared.clone(),
            job,
            result::take_list::<R>,
        ))
    }

    /// `f` applied to every item, lazily, in order: Python's `imap` (one item per task).
    /// The input is read as results are taken.
    pub fn imap<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I) -> IMap<'a, R>
    where
        A: Serialize + DeserializeOwned + 'a,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_with(f, items, 1, true)
    }

    /// [`imap`](Pool::imap) with chunks of `chunksize` items (with a chunk size of 0, the
    /// first item is [`PoolError::Argument`] and the input is not read).
    pub fn imap_chunked<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> IMap<'a, R>
    where
        A: Serialize + DeserializeOwned + 'a,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_with(f, items, chunksize, true)
    }

    /// [`imap`](Pool::imap), the results in the order they finish: Python's
    /// `imap_unordered`.
    pub fn imap_unordered<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I) -> IMap<'a, R>
    where
        A: Serialize + DeserializeOwned + 'a,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_with(f, items, 1, false)
    }

    /// [`imap_unordered`](Pool::imap_unordered) with chunks of `chunksize` items.
    pub fn imap_unordered_chunked<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> IMap<'a, R>
    where
        A: Serialize + DeserializeOwned + 'a,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_with(f, items, chunksize, false)
    }

    fn imap_with<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
        ordered: bool,
    ) -> IMap<'a, R>
    where
        A: Serialize + DeserializeOwned + 'a,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let code = (
            sys::pool_trampoline::<A, R> as sys::PoolTrampoline,
            f as usize,
        );
        // A refusal is the iterator's first item.
        let mut checked = Some(check_chunksize(chunksize).and_then(|()| self.code_offsets(code)));
        let chunksize = chunksize.clamp(1, u32::MAX as usize);
        let mut input = items.into_iter();
        let mut buf: Vec<A> = Vec::with_capacity(chunksize.min(1024));
        let (mut t, mut fo) = (0, 0);
        let feeder: Feeder<'a> = Box::new(move || {
            if let Some(offsets) = checked.take() {
                (t, fo) = offsets?;
            }
            buf.clear();
            buf.extend(input.by_ref().take(chunksize));
            if buf.is_empty() {
                return Ok(None);
            }
            chunk(task_message(t, fo, &buf[..])?, buf.len()).map(Some)
        });
        IMap::new(&self.shared, feeder, ordered, imap_ahead(self.processes()))
    }

    /// Takes no more tasks; the workers end once the queued ones are done: Python's
    /// `close`. Then [`join`](Pool::join).
    pub fn close(&self) {
        self.shared.lock().closed = true;
        let _ = self.shared.kick();
    }

    /// Waits until every worker has ended, after [`close`](Pool::close) (the queued tasks
    /// done; their results stay available) or [`terminate`](Pool::terminate): Python's
    /// `join`.
    ///
    /// # Errors
    ///
    /// [`PoolError::Running`] before `close` or `terminate`, or while an [`IMap`] still
    /// reads its input (iterate it to its end or drop it first); [`PoolError::Io`] if
    /// driving the pool failed.
    pub fn join(&self) -> Result<(), PoolError> {
        self.join_deadline(None).map(drop)
    }

    /// [`join`](Pool::join) for at most `timeout`: whether every worker has ended.
    ///
    /// # Errors
    ///
    /// As [`join`](Pool::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, PoolError> {
        self.join_deadline(Instant::now().checked_add(timeout))
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> Result<bool, PoolError> {
        {
            let st = self.shared.lock();
            if !st.terminated && (!st.closed || st.open_feeds > 0) {
                return Err(PoolError::Running);
            }
        }
        self.shared.wait_until(deadline, |st| st.finished)
    }

    /// Ends every worker now (SIGTERM, then SIGKILL after a second for one that has not
    /// ended) and fails the pending tasks with [`PoolError::Terminated`]: Python's
    /// `terminate`. Returns once every worker is reaped.
    pub fn terminate(&self) {
        self.shared.terminate();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_chunk_size_is_pythons() {
        assert_eq!(default_chunksize(1_000_000, 2), 125_000);
        assert_eq!(default_chunksize(10, 2), 2);
        assert_eq!(default_chunksize(9, 2), 2);
        assert_eq!(default_chunksize(0, 2), 1);
        assert_eq!(default_chunksize(3, 8), 1);
    }
}
