//! What a submission gives back: [`AsyncResult`] and the [`IMap`] iterator, and the sinks
//! that collect their chunks.

use super::driver::{Chunk, Shared, Sink, State, Task};
use super::error::PoolError;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Decodes a chunk's results, which must be exactly `expected` values.
fn decode_chunk<R: DeserializeOwned>(payload: &[u8], expected: u32) -> Result<Vec<R>, PoolError> {
    let (v, rest): (Vec<R>, &[u8]) =
        postcard::take_from_bytes(payload).map_err(|e| PoolError::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PoolError::Decode(
            "bytes left over after a chunk's results".into(),
        ));
    }
    if v.len() != expected as usize {
        return Err(PoolError::Decode(format!(
            "a chunk of {expected} tasks came back with {} results",
            v.len()
        )));
    }
    Ok(v)
}

/// The chunks of an `apply` or `map` job, gathered in order.
pub(crate) struct Collect<R> {
    parts: Vec<Option<Vec<R>>>,
    sizes: Vec<u32>,
    left: usize,
    error: Option<PoolError>,
    taken: bool,
}

impl<R> Collect<R> {
    pub(crate) fn new(sizes: Vec<u32>) -> Collect<R> {
        Collect {
            parts: sizes.iter().map(|_| None).collect(),
            left: sizes.len(),
            sizes,
            error: None,
            taken: false,
        }
    }

    fn take_all(&mut self) -> Result<Vec<R>, PoolError> {
        if self.taken {
            return Err(PoolError::AlreadyTaken);
        }
        self.taken = true;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut out = Vec::with_capacity(self.sizes.iter().map(|&n| n as usize).sum());
        for part in &mut self.parts {
            out.append(part.as_mut().expect("every chunk came back"));
        }
        Ok(out)
    }
}

impl<R: DeserializeOwned + Send + 'static> Sink for Collect<R> {
    fn deliver(&mut self, chunk: u64, payload: &[u8]) {
        let i = chunk as usize;
        if self.error.is_some() || self.parts[i].is_some() {
            return;
        }
        match decode_chunk(payload, self.sizes[i]) {
            Ok(v) => {
                self.parts[i] = Some(v);
                self.left -= 1;
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn fail(&mut self, _chunk: u64, err: PoolError) {
        self.error.get_or_insert(err);
    }

    fn is_done(&self) -> bool {
        self.error.is_some() || self.left == 0
    }

    fn cancelled(&self) -> bool {
        self.error.is_some()
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Takes an `apply` job's one value.
pub(crate) fn take_one<R: 'static>(sink: &mut dyn Sink) -> Result<R, PoolError> {
    let c = sink
        .as_any()
        .downcast_mut::<Collect<R>>()
        .expect("the sink made for this result");
    c.take_all()
        .map(|v| v.into_iter().next().expect("one value"))
}

/// Takes a `map` job's values.
pub(crate) fn take_list<R: 'static>(sink: &mut dyn Sink) -> Result<Vec<R>, PoolError> {
    let c = sink
        .as_any()
        .downcast_mut::<Collect<R>>()
        .expect("the sink made for this result");
    c.take_all()
}

/// The result of [`Pool::apply_async`](crate::Pool::apply_async),
/// [`Pool::map_async`](crate::Pool::map_async) and
/// [`Pool::starmap_async`](crate::Pool::starmap_async): Python's `AsyncResult`.
///
/// The tasks run in the workers as soon as there is room; waiting here ([`get`](Self::get),
/// [`wait`](Self::wait), …) also drives the pool, which has no thread of its own.
/// Dropping it discards the result (tasks not yet handed to a worker are not run).
#[must_use = "dropping an AsyncResult discards its result"]
pub struct AsyncResult<T> {
    shared: Arc<Shared>,
    job: u64,
    take: fn(&mut dyn Sink) -> Result<T, PoolError>,
    spent: bool,
    /// Whether the result taken was a success (for `successful` after `get_timeout`).
    outcome: Option<bool>,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

fn job_done(st: &State, job: u64) -> bool {
    st.jobs.get(&job).is_none_or(|j| j.sink.is_done())
}

impl<T: Send + 'static> AsyncResult<T> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        job: u64,
        take: fn(&mut dyn Sink) -> Result<T, PoolError>,
    ) -> AsyncResult<T> {
        AsyncResult {
            shared,
            job,
            take,
            spent: false,
            outcome: None,
            _t: PhantomData,
        }
    }

    /// Waits for the result and returns it: the value, or why there is none (a task
    /// panicked, its worker died, the pool was terminated, …).
    ///
    /// # Errors
    ///
    /// See [`PoolError`].
    pub fn get(mut self) -> Result<T, PoolError> {
        self.get_deadline(None)
    }

    /// [`get`](Self::get) with a timeout: [`PoolError::Timeout`] if the result is not ready
    /// by then (it can be asked for again); once a result (or an error) was returned, the
    /// next call is [`PoolError::AlreadyTaken`].
    ///
    /// # Errors
    ///
    /// See [`PoolError`].
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<T, PoolError> {
        self.get_deadline(Instant::now().checked_add(timeout))
    }

    fn get_deadline(&mut self, deadline: Option<Instant>) -> Result<T, PoolError> {
        if self.spent {
            return Err(PoolError::AlreadyTaken);
        }
        let job = self.job;
        if !self.shared.wait_until(deadline, |st| job_done(st, job))? {
            return Err(PoolError::Timeout);
        }
        self.spent = true;
        let mut st = self.shared.lock();
        let r = match st.jobs.remove(&job) {
            Some(mut j) => (self.take)(&mut *j.sink),
            None => Err(PoolError::Terminated),
        };
        self.outcome = Some(r.is_ok());
        r
    }

    /// Waits until the result is ready.
    ///
    /// # Errors
    ///
    /// [`PoolError::Io`] if driving the pool failed.
    pub fn wait(&self) -> Result<(), PoolError> {
        let job = self.job;
        self.shared.wait_until(None, |st| job_done(st, job))?;
        Ok(())
    }

    /// Waits up to `timeout` for the result; whether it is ready.
    ///
    /// # Errors
    ///
    /// [`PoolError::Io`] if driving the pool failed.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, PoolError> {
        let job = self.job;
        self.shared
            .wait_until(Instant::now().checked_add(timeout), |st| job_done(st, job))
    }

    /// Whether the result is ready (after taking in what the workers have sent, without
    /// waiting).
    pub fn ready(&self) -> bool {
        let _ = self.shared.kick();
        job_done(&self.shared.lock(), self.job)
    }

    /// Whether the tasks succeeded; [`PoolError::NotReady`] before the result is ready (as
    /// Python raises `ValueError`).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotReady`].
    pub fn successful(&self) -> Result<bool, PoolError> {
        if let Some(ok) = self.outcome {
            return Ok(ok);
        }
        let _ = self.shared.kick();
        let mut st = self.shared.lock();
        match st.jobs.get_mut(&self.job) {
            Some(j) if j.sink.is_done() => Ok(!j.sink.cancelled()),
            Some(_) => Err(PoolError::NotReady),
            None => Ok(false),
        }
    }

    /// Runs `callback` with the result once it is ready (here, now, if it is ready already):
    /// Python's `callback` and `error_callback`. The pool has no thread of its own: a
    /// callback runs in the thread that took the result in, after it stopped driving — in a
    /// call that waits on the pool (`get`, `wait`, an `imap` step,
    /// [`Pool::join`](crate::Pool::join)) or one that hands out tasks (`apply_async`, `map_async`,
    /// `ready`, `close`). So a callback may use the pool, but should not take a lock that the
    /// caller of those methods holds. A panic in a callback goes on in that caller, after the
    /// other callbacks ran.
    pub fn then(mut self, callback: impl FnOnce(Result<T, PoolError>) + Send + 'static) {
        let take = self.take;
        self.spent = true;
        let mut st = self.shared.lock();
        let Some(j) = st.jobs.get_mut(&self.job) else {
            drop(st);
            callback(Err(PoolError::Terminated));
            return;
        };
        if j.sink.is_done() {
            let mut j = st.jobs.remove(&self.job).expect("looked up above");
            drop(st);
            callback(take(&mut *j.sink));
            return;
        }
        j.callback = Some(Box::new(move |sink: &mut dyn Sink| callback(take(sink))));
        drop(st);
        let _ = self.shared.kick();
    }
}

impl<T> Drop for AsyncResult<T> {
    fn drop(&mut self) {
        if !self.spent {
            let mut st = self.shared.lock();
            if st.jobs.get(&self.job).is_some_and(|j| j.callback.is_none()) {
                st.jobs.remove(&self.job);
            }
        }
    }
}

/// The chunks of an `imap` job, as they come.
pub(crate) struct Stream<R> {
    done: BTreeMap<u64, Result<Vec<R>, PoolError>>,
    sizes: BTreeMap<u64, u32>,
}

impl<R> Stream<R> {
    pub(crate) fn new() -> Stream<R> {
        Stream {
            done: BTreeMap::new(),
            sizes: BTreeMap::new(),
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Sink for Stream<R> {
    fn deliver(&mut self, chunk: u64, payload: &[u8]) {
        let Some(n) = self.sizes.remove(&chunk) else {
            return;
        };
        self.done.insert(chunk, decode_chunk(payload, n));
    }

    fn fail(&mut self, chunk: u64, err: PoolError) {
        if self.sizes.remove(&chunk).is_some() {
            self.done.insert(chunk, Err(err));
        }
    }

    fn is_done(&self) -> bool {
        false
    }

    fn cancelled(&self) -> bool {
        false
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Makes the next chunk of an `imap`'s input: the encoded task message and its number of
/// items, or `None` when the input is exhausted.
pub(crate) type Feeder<'a> = Box<dyn FnMut() -> Result<Option<Chunk>, PoolError> + 'a>;

/// The iterator of [`Pool::imap`](crate::Pool::imap) and
/// [`Pool::imap_unordered`](crate::Pool::imap_unordered): results as they come (in input
/// order, or in completion order), the input read as the results are consumed.
///
/// Each item is `Ok(value)` or the error of its task. A chunk that fails (with `chunksize`
/// above 1) yields one error for the whole chunk, as in Python. Iterating drives the pool;
/// dropping the iterator discards the results not yet taken.
pub struct IMap<'a, R> {
    shared: &'a Arc<Shared>,
    job: u64,
    feeder: Feeder<'a>,
    ordered: bool,
    exhausted: bool,
    submitted: u64,
    yielded: u64,
    ahead: u64,
    current: std::vec::IntoIter<R>,
    error: Option<PoolError>,
}

impl<R> fmt::Debug for IMap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("ordered", &self.ordered)
            .field("submitted", &self.submitted)
            .field("yielded", &self.yielded)
            .finish_non_exhaustive()
    }
}

impl<'a, R: DeserializeOwned + Send + 'static> IMap<'a, R> {
    pub(crate) fn new(
        shared: &'a Arc<Shared>,
        feeder: Feeder<'a>,
        ordered: bool,
        ahead: u64,
    ) -> IMap<'a, R> {
        let mut st = shared.lock();
        let refused = st.refuses();
        let job = st.new_job(Box::new(Stream::<R>::new()));
        if refused.is_none() {
            st.open_feeds += 1;
        }
        drop(st);
        IMap {
            shared,
            job,
            feeder,
            ordered,
            exhausted: refused.is_some(),
            submitted: 0,
            yielded: 0,
            ahead,
            current: Vec::new().into_iter(),
            error: refused,
        }
    }

    /// Reads input and queues its chunks, keeping `ahead` chunks beyond those taken.
    fn feed(&mut self) -> Result<(), PoolError> {
        let mut tasks = Vec::new();
        let mut sizes = Vec::new();
        while !self.exhausted && self.submitted - self.yielded < self.ahead {
            match (self.feeder)() {
                Ok(Some(c)) => {
                    sizes.push((self.submitted, c.items));
                    tasks.push(Task {
                        job: self.job,
                        chunk: self.submitted,
                        msg: c.msg,
                        file: c.file,
                    });
                    self.submitted += 1;
                }
                Ok(None) => self.finish_feeding(),
                Err(e) => {
                    self.finish_feeding();
                    return Err(e);
                }
            }
        }
        if tasks.is_empty() {
            return Ok(());
        }
        let mut st = self.shared.lock();
        if let Some(e) = st.terminated.then_some(PoolError::Terminated) {
            return Err(e);
        }
        if let Some(j) = st.jobs.get_mut(&self.job) {
            let s = j
                .sink
                .as_any()
                .downcast_mut::<Stream<R>>()
                .expect("the sink made for this iterator");
            s.sizes.extend(sizes);
        }
        st.queue.extend(tasks);
        drop(st);
        self.shared.kick()
    }

    fn finish_feeding(&mut self) {
        if !self.exhausted {
            self.exhausted = true;
            let mut st = self.shared.lock();
            st.open_feeds = st.open_feeds.saturating_sub(1);
            drop(st);
            self.shared.wake_driver();
        }
    }

    /// The next result, waiting at most `timeout`: `None` at the end;
    /// `Some(Err(PoolError::Timeout))` if nothing came in time (ask again).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, PoolError>> {
        self.next_deadline(Instant::now().checked_add(timeout))
    }

    fn next_deadline(&mut self, deadline: Option<Instant>) -> Option<Result<R, PoolError>> {
        if let Some(v) = self.current.next() {
            return Some(Ok(v));
        }
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        if let Err(e) = self.feed() {
            return Some(Err(e));
        }
        if self.exhausted && self.yielded == self.submitted {
            return None;
        }
        let (job, ordered, want) = (self.job, self.ordered, self.yielded);
        let mut found = None;
        let ready = self.shared.wait_until(deadline, |st| {
            let Some(j) = st.jobs.get_mut(&job) else {
                return true;
            };
            let s = j
                .sink
                .as_any()
                .downcast_mut::<Stream<R>>()
                .expect("the sink made for this iterator");
            let key = if ordered {
                s.done.contains_key(&want).then_some(want)
            } else {
                s.done.keys().next().copied()
            };
            if let Some(k) = key {
                found = s.done.remove(&k);
                return true;
            }
            st.finished
        });
        match ready {
            Err(e) => Some(Err(e)),
            Ok(false) => Some(Err(PoolError::Timeout)),
            Ok(true) => match found {
                None => {
                    // The pool ended under this iterator.
                    self.exhausted = true;
                    self.yielded = self.submitted;
                    Some(Err(PoolError::Terminated))
                }
                Some(chunk) => {
                    self.yielded += 1;
                    match chunk {
                        Ok(v) => {
                            self.current = v.into_iter();
                            // An empty chunk cannot be: every chunk has an item.
                            self.current.next().map(Ok)
                        }
                        Err(e) => Some(Err(e)),
                    }
                }
            },
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Iterator for IMap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_deadline(None)
    }
}

impl<R> Drop for IMap<'_, R> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.jobs.remove(&self.job);
        if !self.exhausted {
            st.open_feeds = st.open_feeds.saturating_sub(1);
        }
        drop(st);
        self.shared.wake_driver();
    }
}
