//! The pool's engine, run by the callers themselves: no thread of its own.
//!
//! Whoever waits on the pool (a `get`, an `imap` step, `join`, …) drives it while it waits,
//! one caller at a time (the others sleep on a condition variable until the driver delivers
//! something or steps down): it hands queued tasks to the workers, reads their results into
//! the jobs, and watches the workers' pidfds — a worker that dies fails the task it held and
//! is replaced. A submission made while nobody drives is handed out at once, as far as the
//! workers take it (see [`Shared::hand_out`]).

use super::error::PoolError;
use super::worker::{self, InitJob, WorkerArg};
use crate::{Builder, Process, StartMethod};
use multiproc_pipe::{Fd, PipeBuilder, Receiver, RecvError, Sender, Waitable};
use multiproc_signal::Pid;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Each direction's ring.
const RING_CAPACITY: usize = 1 << 20;
/// Bytes of tasks a busy worker may have waiting in its ring: well under the ring's
/// capacity (with the records' framing), so that handing it one more never blocks.
const WINDOW: usize = RING_CAPACITY / 2;
/// Framing of a message in the ring, at most.
const FRAME_COST: usize = 32;
/// The most tasks handed to one worker ahead of its results.
const MAX_AHEAD: usize = 64;
/// Tasks at least this long (on average) go only to idle workers.
const SLOW_TASK: Duration = Duration::from_millis(5);
/// How long the tasks handed ahead to a worker should keep it busy.
const AHEAD_TIME: Duration = Duration::from_micros(500);
/// How long a terminated worker has to end before SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);
/// Workers ending in the initializer one after another, before the pool gives up.
const EARLY_DEATHS: u32 = 3;
/// How long after a failed start a worker is tried again.
const START_RETRY: Duration = Duration::from_millis(100);
/// The longest a waiting caller sleeps before it looks again (a safety net: the driver
/// wakes it when it delivers or steps down).
const NAP: Duration = Duration::from_millis(100);

/// What a job does with its chunks' outcomes; typed by the job's result type.
pub(crate) trait Sink: Send {
    /// Chunk `chunk` came back: its encoded results.
    fn deliver(&mut self, chunk: u64, payload: &[u8]);
    /// Chunk `chunk` failed.
    fn fail(&mut self, chunk: u64, err: PoolError);
    /// Whether the job's result is complete (or failed).
    fn is_done(&self) -> bool;
    /// Whether the job failed, so that its chunks still queued need not run.
    fn cancelled(&self) -> bool;
    fn as_any(&mut self) -> &mut dyn Any;
}

/// What runs once a job is done, with its sink.
pub(crate) type Callback = Box<dyn FnOnce(&mut dyn Sink) + Send>;

/// A job's place in the pool.
pub(crate) struct Job {
    pub(crate) sink: Box<dyn Sink>,
    /// Run with the sink once the job is done (the job then leaves the pool).
    pub(crate) callback: Option<Callback>,
}

/// A chunk of a job, encoded, waiting for a worker.
pub(crate) struct Task {
    pub(crate) job: u64,
    pub(crate) chunk: u64,
    /// The whole task message (only its header if the chunk is in `file`); its seq is
    /// written when it is handed out.
    pub(crate) msg: Vec<u8>,
    /// The chunk, when too large for the ring (see [`package`]).
    pub(crate) file: Option<Arc<File>>,
}

/// A chunk's task, encoded and packaged, with its number of items.
pub(crate) struct Chunk {
    pub(crate) msg: Vec<u8>,
    pub(crate) file: Option<Arc<File>>,
    pub(crate) items: u32,
}

/// Readies an encoded task message for the ring: a chunk larger than a worker's window moves
/// into a memfd, so that handing it out never blocks (a worker that dies meanwhile cannot
/// stall the pool), and the message keeps only its header.
pub(crate) fn package(mut msg: Vec<u8>) -> Result<(Vec<u8>, Option<Arc<File>>), PoolError> {
    if msg.len() + FRAME_COST <= WINDOW {
        return Ok((msg, None));
    }
    let file = File::from(crate::sys::memfd(c"multiproc-pool-task")?);
    (&file).write_all(&msg[worker::TASK_HEADER..])?;
    msg.truncate(worker::TASK_HEADER);
    msg[0] = worker::TASK_IN_FILE;
    Ok((msg, Some(Arc::new(file))))
}

/// The pool's bookkeeping, under the state lock.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) queue: VecDeque<Task>,
    pub(crate) jobs: HashMap<u64, Job>,
    next_job: u64,
    /// Someone drives the pool (holds the driver).
    driving: bool,
    pub(crate) closed: bool,
    pub(crate) terminated: bool,
    /// The initializer failed: no task can run.
    pub(crate) broken: Option<String>,
    /// Lazily fed jobs (`imap`) still taking input: workers stay for them after `close`.
    pub(crate) open_feeds: usize,
    /// Every worker has ended after `close` (or `terminate`).
    pub(crate) finished: bool,
    /// Worker pids, for [`Pool::pids`](crate::Pool::pids).
    pub(crate) pids: Vec<Pid>,
    /// Jobs finished with a callback to run, taken by the driver.
    callbacks: Vec<Job>,
}

impl State {
    pub(crate) fn new_job(&mut self, sink: Box<dyn Sink>) -> u64 {
        self.next_job += 1;
        let id = self.next_job;
        self.jobs.insert(
            id,
            Job {
                sink,
                callback: None,
            },
        );
        id
    }

    /// Whether new work is refused, and why.
    pub(crate) fn refuses(&self) -> Option<PoolError> {
        if self.terminated {
            Some(PoolError::Terminated)
        } else if let Some(m) = &self.broken {
            Some(PoolError::Initializer(m.clone()))
        } else if self.closed {
            Some(PoolError::Closed)
        } else {
            None
        }
    }

    fn fail_chunk(&mut self, job: u64, chunk: u64, err: PoolError) {
        if let Some(j) = self.jobs.get_mut(&job) {
            j.sink.fail(chunk, err);
        }
        self.settle(job);
    }

    fn deliver_chunk(&mut self, job: u64, chunk: u64, payload: &[u8]) {
        if let Some(j) = self.jobs.get_mut(&job) {
            // A result type whose `Deserialize` panics fails its chunk; it must not leave
            // the job waiting forever.
            if panic::catch_unwind(AssertUnwindSafe(|| j.sink.deliver(chunk, payload))).is_err() {
                j.sink.fail(
                    chunk,
                    PoolError::Decode("decoding the result panicked".into()),
                );
            }
        }
        self.settle(job);
    }

    /// A job with a callback leaves the pool once done; its callback is run by the driver.
    fn settle(&mut self, job: u64) {
        let done = self
            .jobs
            .get(&job)
            .is_some_and(|j| j.callback.is_some() && j.sink.is_done());
        if done {
            if let Some(j) = self.jobs.remove(&job) {
                self.callbacks.push(j);
            }
        }
    }

    /// Fails every queued task (the pool cannot run them).
    fn fail_queue(&mut self, err: impl Fn() -> PoolError) {
        while let Some(t) = self.queue.pop_front() {
            self.fail_chunk(t.job, t.chunk, err());
        }
    }
}

/// The initializer, encoded once; each worker gets a copy (its handles' fds duplicated).
pub(crate) struct InitTemplate {
    pub(crate) trampoline: u64,
    pub(crate) func: u64,
    pub(crate) arg: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

impl InitTemplate {
    fn instance(&self) -> std::io::Result<InitJob> {
        let fds = self
            .fds
            .iter()
            .map(|fd| fd.try_clone().map(Fd::new))
            .collect::<std::io::Result<Vec<Fd>>>()?;
        Ok(InitJob {
            trampoline: self.trampoline,
            func: self.func,
            arg: self.arg.clone(),
            fds,
        })
    }
}

/// How workers are made.
pub(crate) struct Config {
    pub(crate) processes: usize,
    pub(crate) method: StartMethod,
    pub(crate) max_tasks: u64,
    pub(crate) init: Option<InitTemplate>,
}

/// A task handed to a worker, not yet answered.
struct Sent {
    seq: u64,
    job: u64,
    chunk: u64,
    bytes: usize,
    at: Instant,
    /// The message, to hand to another worker if this one dies before starting it.
    msg: Vec<u8>,
    file: Option<Arc<File>>,
}

impl Sent {
    /// Back to the queue, for another worker.
    fn into_task(self) -> Task {
        Task {
            job: self.job,
            chunk: self.chunk,
            msg: self.msg,
            file: self.file,
        }
    }
}

/// A worker and its channels.
struct Slot {
    process: Process,
    pid: Pid,
    tasks: Sender,
    results: Receiver,
    sent: VecDeque<Sent>,
    bytes: usize,
    next_seq: u64,
    handed: u64,
    /// Told to end (after `close`), or its channel broke: no more tasks.
    retiring: bool,
    last_answer: Instant,
    /// Its initializer has finished (always, without one).
    ready: bool,
    /// Its result channel ended or broke: nothing more to read.
    results_done: bool,
}

impl Slot {
    /// Whether the worker has not ended (its pidfd is not readable).
    fn alive(&self) -> bool {
        match self.process.sentinel() {
            Ok(fd) => {
                !multiproc_internal::poll::poll_readable(fd, Some(Duration::ZERO)).unwrap_or(true)
            }
            Err(_) => false,
        }
    }
}

/// What only the driver touches: the workers.
struct Driver {
    slots: Vec<Slot>,
    started: usize,
    /// Workers that ended in the initializer, in a row.
    early_deaths: u32,
    /// When starting a worker last failed.
    start_failed: Option<Instant>,
    /// The recent average time a task takes, as seen from here.
    task_time: Option<Duration>,
}

/// Everything a pool and its results share.
pub(crate) struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    driver: Mutex<Driver>,
    wake: OwnedFd,
    pub(crate) config: Config,
}

/// The driver's role, given back (and the waiters told) when dropped, also by a panic.
struct Role<'a>(&'a Shared);

impl Drop for Role<'_> {
    fn drop(&mut self) {
        self.0.lock().driving = false;
        self.0.cond.notify_all();
    }
}

impl Shared {
    /// Starts the workers.
    pub(crate) fn new(config: Config) -> Result<Shared, PoolError> {
        let shared = Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            driver: Mutex::new(Driver {
                slots: Vec::new(),
                started: 0,
                early_deaths: 0,
                start_failed: None,
                task_time: None,
            }),
            wake: crate::sys::counter_eventfd()?,
            config,
        };
        {
            let mut d = shared.drv();
            for _ in 0..shared.config.processes {
                let slot = shared.start_worker(&mut d)?;
                d.slots.push(slot);
            }
            shared.lock().pids = d.slots.iter().map(|s| s.pid).collect();
        }
        Ok(shared)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn drv(&self) -> MutexGuard<'_, Driver> {
        self.driver.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the caller driving now to look at the queue and the state again.
    pub(crate) fn wake_driver(&self) {
        let _ = crate::sys::eventfd_add(self.wake.as_fd());
    }

    fn start_worker(&self, d: &mut Driver) -> Result<Slot, PoolError> {
        let pipes = PipeBuilder::new().ring_capacity(RING_CAPACITY);
        let (task_rx, task_tx) = pipes.simplex()?;
        let (result_rx, result_tx) = pipes.simplex()?;
        let init = match &self.config.init {
            Some(t) => Some(t.instance()?),
            None => None,
        };
        d.started += 1;
        let prefix = match self.config.method {
            StartMethod::Fork => "Fork",
            StartMethod::Spawn => "Spawn",
            StartMethod::Forkserver => "ForkServer",
        };
        let mut process = Builder::new()
            .name(format!("{prefix}PoolWorker-{}", d.started))
            .daemon(true)
            .start_method(self.config.method)
            .process_fn(
                worker::worker_main,
                WorkerArg {
                    tasks: task_rx,
                    results: result_tx,
                    init,
                    max_tasks: self.config.max_tasks,
                    check_code: self.config.method != StartMethod::Fork,
                },
            );
        process.start()?;
        let pid = process.pid().expect("a started process has a pid");
        Ok(Slot {
            process,
            pid,
            tasks: task_tx,
            results: result_rx,
            sent: VecDeque::new(),
            bytes: 0,
            next_seq: 0,
            handed: 0,
            retiring: false,
            last_answer: Instant::now(),
            ready: self.config.init.is_none(),
            results_done: false,
        })
    }

    /// Waits until `done` holds, driving the pool meanwhile when nobody else does; `false`
    /// if `deadline` passed first.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        mut done: impl FnMut(&mut State) -> bool,
    ) -> Result<bool, PoolError> {
        let mut st = self.lock();
        loop {
            if done(&mut st) {
                // A submission made while the last driver finished its round: hand it out.
                let pending = !st.driving && !st.queue.is_empty();
                drop(st);
                if pending {
                    self.kick()?;
                }
                return Ok(true);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| d <= now) {
                return Ok(false);
            }
            // Terminating: `terminate` takes the driver's role and fails what is pending.
            if st.driving || (st.terminated && !st.finished) {
                let nap = deadline.map_or(NAP, |d| (d - now).min(NAP));
                st = self
                    .cond
                    .wait_timeout(st, nap)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            self.drive(st, deadline, true)?;
            st = self.lock();
        }
    }

    /// Takes the driver's role (free: `st` says so), runs a round, gives the role back, then
    /// runs the callbacks of what the round finished.
    fn drive(
        &self,
        mut st: MutexGuard<'_, State>,
        deadline: Option<Instant>,
        block: bool,
    ) -> Result<(), PoolError> {
        st.driving = true;
        drop(st);
        let role = Role(self);
        let r = self.round(deadline, block);
        drop(role);
        self.run_callbacks();
        r
    }

    /// Hands out what can be handed out and takes in what has come, without sleeping, if
    /// nobody drives; otherwise tells the driver to look.
    pub(crate) fn kick(&self) -> Result<(), PoolError> {
        let st = self.lock();
        if st.driving || st.terminated {
            drop(st);
            self.wake_driver();
            return Ok(());
        }
        self.drive(st, None, false)
    }

    /// One round of driving: hand out, take in, and (with `block`, if neither did anything)
    /// sleep until a worker answers or dies, someone wakes the driver, or `deadline`.
    fn round(&self, deadline: Option<Instant>, block: bool) -> Result<(), PoolError> {
        let mut d = self.drv();
        if d.slots.len() < self.config.processes {
            self.replenish(&mut d);
        }
        let mut progressed = self.hand_out(&mut d);
        progressed |= self.take_in(&mut d);
        if d.slots.iter().any(|s| s.retiring) {
            // New workers, or tasks back in the queue: the caller's next round hands out.
            progressed |= self.reap_dead(&mut d);
        }
        if progressed || !block {
            return Ok(());
        }
        // Nothing moved: sleep on the workers' results, their pidfds and the wake-up fd.
        let ready = {
            let pidfds: Vec<BorrowedFd<'_>> = d
                .slots
                .iter()
                .filter_map(|s| s.process.sentinel().ok())
                .collect();
            let wake = self.wake.as_fd();
            let mut ends: Vec<&dyn Waitable> = Vec::with_capacity(d.slots.len() * 2 + 1);
            ends.extend(
                d.slots
                    .iter()
                    .filter(|s| !s.results_done)
                    .map(|s| &s.results as &dyn Waitable),
            );
            let n = ends.len();
            ends.extend(pidfds.iter().map(|f| f as &dyn Waitable));
            ends.push(&wake);
            let mut timeout = deadline.map(|dl| dl.saturating_duration_since(Instant::now()));
            if d.slots.len() < self.config.processes {
                // Workers missing: start them again soon.
                timeout = Some(timeout.map_or(START_RETRY, |t| t.min(START_RETRY)));
            }
            let ready = multiproc_pipe::wait(&ends, timeout)?;
            (
                ready.iter().any(|&i| i < n),
                ready.iter().any(|&i| (n..n + pidfds.len()).contains(&i)),
                ready.contains(&(ends.len() - 1)),
            )
        };
        let (answered, died, woken) = ready;
        if woken {
            let _ = crate::sys::eventfd_take(self.wake.as_fd());
        }
        if answered {
            self.take_in(&mut d);
        }
        if died || !answered {
            self.reap_dead(&mut d);
        }
        Ok(())
    }

    /// Runs the callbacks of jobs that finished, by a caller that no longer drives (so that
    /// a callback may use the pool: wait on it, submit, drop it).
    fn run_callbacks(&self) {
        let jobs = std::mem::take(&mut self.lock().callbacks);
        let mut first_panic = None;
        for mut job in jobs {
            if let Some(cb) = job.callback.take() {
                if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| cb(&mut *job.sink))) {
                    first_panic.get_or_insert(p);
                }
            }
        }
        // Every callback ran; a panic of one goes on in the caller that ran them.
        if let Some(p) = first_panic {
            panic::resume_unwind(p);
        }
    }

    /// How many tasks a worker may hold at once, from how long tasks take.
    fn ahead(d: &Driver) -> usize {
        match d.task_time {
            None => 2,
            Some(t) if t >= SLOW_TASK => 1,
            Some(t) => {
                let n = AHEAD_TIME.as_nanos() / t.as_nanos().max(1);
                (n as usize + 1).clamp(2, MAX_AHEAD)
            }
        }
    }

    /// Hands queued tasks to workers with room — an idle worker, or a busy one while its
    /// unread tasks fit half its ring, up to [`Self::ahead`] tasks — and tells idle workers
    /// to end once the pool is closed and drained. Whether anything was handed out.
    fn hand_out(&self, d: &mut Driver) -> bool {
        let ahead = Self::ahead(d);
        let max_tasks = self.config.max_tasks;
        let mut st = self.lock();
        let mut progressed = false;
        loop {
            // Skip tasks whose job is gone (its handle dropped) or failed already.
            while let Some(t) = st.queue.front() {
                match st.jobs.get(&t.job) {
                    Some(j) if !j.sink.cancelled() => break,
                    _ => {
                        st.queue.pop_front();
                    }
                }
            }
            let Some(task) = st.queue.front() else { break };
            let cost = task.msg.len() + FRAME_COST;
            let pick = d
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    !s.retiring
                        && (max_tasks == 0 || s.handed < max_tasks)
                        && (s.sent.is_empty() || (s.sent.len() < ahead && s.bytes + cost <= WINDOW))
                })
                .min_by_key(|(_, s)| s.sent.len())
                .map(|(i, _)| i);
            let Some(i) = pick else { break };
            if d.slots[i].sent.is_empty() && !d.slots[i].alive() {
                // Died while idle: its task goes to another (the worker is reaped at the end
                // of this round).
                d.slots[i].retiring = true;
                continue;
            }
            let mut task = st.queue.pop_front().expect("looked at above");
            let slot = &mut d.slots[i];
            let seq = slot.next_seq;
            task.msg[1..9].copy_from_slice(&seq.to_le_bytes());
            let sent = match &task.file {
                Some(file) => slot.tasks.send_bytes_with_fds(&task.msg, &[file.as_fd()]),
                None => slot.tasks.send_bytes(&task.msg),
            };
            match sent {
                Ok(()) => {
                    slot.next_seq += 1;
                    slot.handed += 1;
                    slot.bytes += cost;
                    slot.sent.push_back(Sent {
                        seq,
                        job: task.job,
                        chunk: task.chunk,
                        bytes: cost,
                        at: Instant::now(),
                        msg: task.msg,
                        file: task.file,
                    });
                    progressed = true;
                }
                Err(_) => {
                    // The worker is dying (or its channel broke): the task waits for
                    // another; the worker's end is seen through its pidfd.
                    slot.retiring = true;
                    let _ = slot.process.kill();
                    st.queue.push_front(task);
                }
            }
        }
        // Closed and nothing left to hand out: idle workers may end.
        if st.closed && st.queue.is_empty() && st.open_feeds == 0 {
            for s in d
                .slots
                .iter_mut()
                .filter(|s| !s.retiring && s.sent.is_empty())
            {
                s.retiring = true;
                if s.tasks.send_bytes(&[worker::EXIT]).is_err() {
                    let _ = s.process.kill();
                }
            }
        }
        progressed
    }

    /// Takes in every result that has come; whether any did.
    fn take_in(&self, d: &mut Driver) -> bool {
        let mut got: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, s) in d.slots.iter_mut().enumerate() {
            // A worker owes one answer per task it holds (and perhaps word of its
            // initializer): no more is read from it in one go.
            for _ in 0..=s.sent.len() {
                match s.results.try_recv_bytes() {
                    Ok(m) => got.push((i, m)),
                    Err(RecvError::Empty) => break,
                    Err(e) => {
                        // Ended (or ending), or its channel broke (then it is finished off):
                        // what it held fails when its pidfd says it is gone. Its channel is
                        // no longer waited on.
                        s.retiring = true;
                        s.results_done = true;
                        if !e.is_disconnected() {
                            let _ = s.process.kill();
                        }
                        break;
                    }
                }
            }
        }
        if got.is_empty() {
            return false;
        }
        let mut st = self.lock();
        for (i, msg) in got {
            self.apply(d, &mut st, i, &msg);
        }
        drop(st);
        self.cond.notify_all();
        true
    }

    /// One result message from worker `i`.
    fn apply(&self, d: &mut Driver, st: &mut State, i: usize, msg: &[u8]) {
        let now = Instant::now();
        let slot = &mut d.slots[i];
        let parsed = worker::parse_result(msg);
        if let Some((worker::READY, _, _)) = parsed {
            slot.ready = true;
            return;
        }
        if let Some((worker::INIT_FAILED, _, text)) = parsed {
            let text = String::from_utf8_lossy(text).into_owned();
            st.broken.get_or_insert(text.clone());
            slot.retiring = true;
            while let Some(s) = slot.sent.pop_front() {
                st.fail_chunk(s.job, s.chunk, PoolError::Initializer(text.clone()));
            }
            slot.bytes = 0;
            st.fail_queue(|| PoolError::Initializer(text.clone()));
            return;
        }
        let matches = match (parsed, slot.sent.front()) {
            (Some((_, seq, _)), Some(front)) => seq == front.seq,
            _ => false,
        };
        let (Some((kind, _, payload)), true) = (parsed, matches) else {
            // Not what this worker owes: it is not behaving; it is replaced, and what it
            // held fails as if it had died.
            slot.retiring = true;
            let _ = slot.process.kill();
            return;
        };
        let s = slot.sent.pop_front().expect("matched above");
        slot.bytes -= s.bytes;
        let took = now.saturating_duration_since(s.at.max(slot.last_answer));
        slot.last_answer = now;
        d.task_time = Some(match d.task_time {
            None => took,
            Some(avg) => (avg * 7 + took) / 8,
        });
        match kind {
            worker::OK => st.deliver_chunk(s.job, s.chunk, payload),
            worker::PANICKED => st.fail_chunk(
                s.job,
                s.chunk,
                PoolError::Panicked(String::from_utf8_lossy(payload).into_owned()),
            ),
            _ => st.fail_chunk(
                s.job,
                s.chunk,
                PoolError::Decode(String::from_utf8_lossy(payload).into_owned()),
            ),
        }
    }

    /// Finds the workers that ended: takes in what they sent, fails the task each held,
    /// requeues those it had not started, and starts replacements.
    fn reap_dead(&self, d: &mut Driver) -> bool {
        let mut i = 0;
        let mut changed = false;
        while i < d.slots.len() {
            if d.slots[i].alive() {
                i += 1;
                continue;
            }
            changed = true;
            // Whole results it sent before it ended count.
            let mut last = Vec::new();
            for _ in 0..=d.slots[i].sent.len() {
                match d.slots[i].results.try_recv_bytes() {
                    Ok(m) => last.push(m),
                    Err(_) => break,
                }
            }
            if !last.is_empty() {
                let mut st = self.lock();
                for m in &last {
                    self.apply(d, &mut st, i, m);
                }
            }
            let mut slot = d.slots.remove(i);
            let status = slot.process.join().ok();
            let mut st = self.lock();
            let mut sent = std::mem::take(&mut slot.sent);
            if self.config.init.is_some() && !slot.ready {
                // Ended before its initializer finished: it started none of its tasks. One
                // worker after another ending so is the initializer's doing.
                d.early_deaths += 1;
                if d.early_deaths >= EARLY_DEATHS && st.broken.is_none() {
                    let how = status.map_or_else(|| "ended".to_owned(), |s| s.to_string());
                    let why = format!(
                        "{EARLY_DEATHS} workers in a row ended in the initializer (the last: {how})"
                    );
                    st.broken = Some(why.clone());
                    st.fail_queue(|| PoolError::Initializer(why.clone()));
                }
                let err = st.broken.clone().map(PoolError::Initializer);
                for s in sent.drain(..).rev() {
                    match &err {
                        Some(e) => st.fail_chunk(s.job, s.chunk, e.duplicate()),
                        None => st.queue.push_front(s.into_task()),
                    }
                }
            } else if slot.ready {
                d.early_deaths = 0;
            }
            if let Some(first) = sent.pop_front() {
                let err = match &st.broken {
                    Some(m) => PoolError::Initializer(m.clone()),
                    None => PoolError::WorkerDied {
                        pid: slot.pid,
                        status,
                    },
                };
                st.fail_chunk(first.job, first.chunk, err);
            }
            // Never started: they run elsewhere, first.
            for s in sent.into_iter().rev() {
                st.queue.push_front(s.into_task());
            }
            drop(st);
        }
        if changed {
            self.replenish(d);
            self.cond.notify_all();
        }
        changed
    }

    /// Starts workers until the pool has its number again (unless it is winding down). A
    /// worker that cannot be started is tried again a little later; with no worker at all,
    /// the queued tasks fail with the reason.
    fn replenish(&self, d: &mut Driver) {
        let mut st = self.lock();
        let winding_down = st.terminated
            || st.broken.is_some()
            || (st.closed && st.queue.is_empty() && st.open_feeds == 0);
        if winding_down {
            if d.slots.is_empty() {
                st.finished = true;
                st.fail_queue(|| PoolError::Terminated);
            }
        } else if d.start_failed.is_none_or(|at| at.elapsed() >= START_RETRY) {
            drop(st);
            let mut failure = None;
            while d.slots.len() < self.config.processes {
                match self.start_worker(d) {
                    Ok(slot) => d.slots.push(slot),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            d.start_failed = failure.as_ref().map(|_| Instant::now());
            st = self.lock();
            if let (Some(e), true) = (failure, d.slots.is_empty()) {
                st.fail_queue(|| e.duplicate());
            }
        }
        st.pids = d.slots.iter().map(|s| s.pid).collect();
    }

    /// Stops every worker (SIGTERM, SIGKILL after a grace), fails what is pending.
    pub(crate) fn terminate(&self) {
        {
            let mut st = self.lock();
            if st.finished && st.terminated {
                return;
            }
            st.terminated = true;
        }
        self.wake_driver();
        // Take the driver's role: the one driving now steps down after its round.
        let mut st = self.lock();
        while st.driving {
            st = self
                .cond
                .wait_timeout(st, NAP)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            drop(st);
            self.wake_driver();
            st = self.lock();
        }
        st.driving = true;
        drop(st);
        let role = Role(self);
        let mut d = self.drv();
        for s in &d.slots {
            let _ = s.process.terminate();
        }
        let until = Instant::now() + TERMINATE_GRACE;
        for s in &mut d.slots {
            let left = until.saturating_duration_since(Instant::now());
            if !matches!(s.process.join_timeout(left), Ok(Some(_))) {
                let _ = s.process.kill();
                let _ = s.process.join();
            }
        }
        let slots = std::mem::take(&mut d.slots);
        drop(d);
        let mut st = self.lock();
        for s in slots {
            for sent in s.sent {
                st.fail_chunk(sent.job, sent.chunk, PoolError::Terminated);
            }
        }
        st.fail_queue(|| PoolError::Terminated);
        st.finished = true;
        st.pids.clear();
        drop(st);
        drop(role);
        self.run_callbacks();
    }
}
