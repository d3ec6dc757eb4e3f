//! W4, W4b and W5 between processes: multiproc-mqueue against its peers, in one run.
//!
//! - W4 `w4_queue_1to1_64B`: one producer process, one consumer process, 64-byte messages
//!   (messages per second);
//! - W4b `w4b_queue_2to2_64B`: two producer processes, two consumer processes, the same;
//! - W5 `w5_queue_round_trip_64B`: request/response round trip of a 64-byte message over two
//!   queues (requests, responses) between the parent and one server process.
//!
//! Rows of each group:
//!
//! - `multiproc_queue`: `multiproc_mqueue::Queue<Vec<u8>>` with a 256 KiB ring
//!   (`Queue::builder().capacity(256 << 10)`, no count limit): the in-flight budget of every
//!   bounded row here (4096 messages of 64 bytes). The item is a `Vec<u8>` of 64 bytes, what a
//!   user moving 64 bytes would put (Python's `bytes`; serde implements no `[u8; 64]`); it is
//!   encoded with postcard on `put` and decoded into a new `Vec` by `get`.
//! - `multiproc_queue_bytes`: the same queue with the bytes put and taken as they are
//!   (`put_bytes`, `get_bytes_into` into a buffer kept between messages): no codec.
//! - `multiproc_posix_mq`: `multiproc_mqueue::PosixMq` (`send` from a buffer, `receive` into a
//!   new `Vec`), a queue of `msg_max` messages (`/proc/sys/fs/mqueue/msg_max`, 10 by default:
//!   the most an unprivileged process may ask for) of 64 bytes.
//! - `raw_posix_mq`, its floor: the same kind of queue through libc's blocking `mq_send` and
//!   `mq_receive`, into a buffer on the stack.
//! - `raw_shm_spin_ring`, the floor of a shared-memory queue, written in the benches
//!   (`multiproc_benches::sys`): 4096 slots of 64 bytes in an anonymous `MAP_SHARED` mapping
//!   made before the fork, copy in, copy out. W4 and W5 use the single-producer,
//!   single-consumer ring (the two positions on cache lines of their own, each side caching
//!   the other's); W4b uses Vyukov's bounded many-producer, many-consumer ring (a
//!   compare-exchange per message on each side). Waiting is a short spin, then `sched_yield`
//!   (not sleep): no framing, no variable sizes, no robustness, no sleeping — none of a queue's
//!   duties.
//! - `ipc_channel`: ipc-channel's typed `IpcSender<Vec<u8>>` / `IpcReceiver<Vec<u8>>` (as our
//!   queue row, a serialized `Vec<u8>`), one channel per direction, created before the fork.
//!   Its channels have one receiver: in W4b the two consumers share the receiving socket,
//!   inherited across the fork (outside ipc-channel's API: each 64-byte message is one
//!   `SOCK_SEQPACKET` datagram, so the kernel hands each to exactly one of them).
//! - `crossbeam_channel_threads`, the in-process ceiling: crossbeam-channel's bounded channels
//!   (4096 messages) of `Vec<u8>` between threads of the bench process, pinned as the
//!   processes of the other rows; the producer copies each message into a new `Vec`, the
//!   consumer gets the producer's `Vec`, as a user does.
//! - `python_multiprocessing`: Python's `multiprocessing.Queue` (fork start method),
//!   `benches/python/w4_w5_queue.py`, run once per group after the Rust rows with fixed counts
//!   (1,000,000 messages; 20,000 round trips), printed as a `<group>/python_multiprocessing`
//!   line beside criterion's. One run each, not a criterion estimate. With a filter it runs
//!   only if the filter is a substring of that name; in test mode (`cargo test --benches`)
//!   with tiny counts; without `python3` it is skipped with a note.
//!
//! Every consumer, in every row, checks every message it takes: its length, its producer,
//! that each producer's sequence numbers only go up (FIFO per producer), and every payload
//! byte (so every byte crosses to the consumer's core in every row); the parent checks at the
//! end of each row that the consumers took exactly as many messages as were put.
//!
//! W4 and W4b: the producers and consumers are forked once per row (threads for crossbeam)
//! and pinned: producer `i` and consumer `i` to CPU `i` (W4: the producer on CPU 0, the
//! consumer on CPU 1; W4b: one producer and one consumer on each of the two CPUs). A sample
//! of `iters` messages writes each producer its share through a pipe, and ends when the
//! consumers have taken every producer's end marker (FIFO per producer: all its messages were
//! taken before it), each acknowledged on a pipe; the parent sleeps in between. So each sample
//! includes two pipe wake-ups (tens of µs), against at least a few thousand messages.
//!
//! W5: the parent (CPU 0) puts a request and waits for the response; the server (CPU 1)
//! answers each request with a copy of it.
//!
//! Processes end on a quit message (each producer sends one, each consumer stops at the
//! first it takes), and are reaped and checked for success. If the bench panics, the
//! `ForkChild` handles kill and reap them; every forked process also dies with the bench
//! (`PR_SET_PDEATHSIG`), and a watchdog aborts a row that hangs. POSIX queues are unlinked as
//! soon as they are created.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_channel::{bounded, Receiver, Sender};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use multiproc_benches::python::{run_script, Invocation};
use multiproc_benches::sys::{
    die_with_parent, pin_to_cpu, MpmcRing, RawMq, SharedRegion, SpscReceiver, SpscRing, SpscSender,
    RING_MESSAGE,
};
use multiproc_internal::testing::{fd_readable, fork_child, watchdog, ForkChild};
use multiproc_mqueue::{PosixMq, Queue};
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MSG: usize = 64;

const W4: &str = "w4_queue_1to1_64B";
const W4B: &str = "w4b_queue_2to2_64B";
const W5: &str = "w5_queue_round_trip_64B";

/// The in-flight budget of the bounded rows: 4096 messages of 64 bytes.
const RING: usize = 256 << 10;
const SLOTS: usize = RING / MSG;

/// A row that takes longer than this is taken for hung: the process aborts (and its forked
/// peers die with it).
const ROW_LIMIT: Duration = Duration::from_secs(300);
/// How long the parent waits for a sample's acknowledgements.
const SAMPLE_LIMIT: Duration = Duration::from_secs(120);

// The first byte of every message.
const DATA: u8 = 0;
/// A producer's last message of a sample.
const END: u8 = 1;
/// A producer's last message of a row.
const QUIT: u8 = 2;
/// The share that tells a producer to send [`QUIT`] and return.
const QUIT_SHARE: u64 = u64::MAX;
const FILL: u8 = 7;
/// Producers (and consumers) of a row, at most.
const MAX_WORKERS: usize = 2;

/// A message: the tag, the producer, six zero bytes, the producer's sequence number (little
/// endian), then 48 bytes of [`FILL`].
fn message(tag: u8, producer: u8, seq: u64) -> [u8; MSG] {
    let mut m = [FILL; MSG];
    m[0] = tag;
    m[1] = producer;
    m[2..8].fill(0);
    m[8..16].copy_from_slice(&seq.to_le_bytes());
    m
}

/// Checks a message a consumer took, given the next sequence number it may see from each
/// producer; returns its tag.
#[inline]
fn check(m: &[u8], next: &mut [u64; MAX_WORKERS]) -> u8 {
    assert_eq!(m.len(), MSG, "a message of {} bytes", m.len());
    let (tag, producer) = (m[0], usize::from(m[1]));
    assert!(tag <= QUIT && producer < MAX_WORKERS, "a bad header");
    let seq = u64::from_le_bytes(m[8..16].try_into().unwrap());
    if tag == DATA {
        assert!(seq >= next[producer], "producer {producer} out of order");
        next[producer] = seq + 1;
    }
    assert!(
        m[2..8].iter().all(|&b| b == 0) && m[16..].iter().all(|&b| b == FILL),
        "a torn message"
    );
    tag
}

/// The sending end of a row's channel, as a producer (or the W5 server) uses it.
trait Tx {
    fn send(&mut self, m: &[u8]);
}

/// The receiving end: hands the next message to `f`, where it lies or in a buffer of its own.
trait Rx {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R;
}

impl Tx for Queue<Vec<u8>> {
    fn send(&mut self, m: &[u8]) {
        self.put(m.to_vec()).unwrap();
    }
}

impl Rx for Queue<Vec<u8>> {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.get().unwrap())
    }
}

/// The same queue, bytes without the codec (`put_bytes`, `get_bytes_into` into a buffer kept
/// between messages).
#[derive(Clone)]
struct QueueBytes(Queue<Vec<u8>>, Vec<u8>);

impl Tx for QueueBytes {
    fn send(&mut self, m: &[u8]) {
        self.0.put_bytes(m).unwrap();
    }
}

impl Rx for QueueBytes {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.0.get_bytes_into(&mut self.1).unwrap();
        f(&self.1)
    }
}

impl Tx for &PosixMq {
    fn send(&mut self, m: &[u8]) {
        PosixMq::send(self, m, 0).unwrap();
    }
}

impl Rx for &PosixMq {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.receive().unwrap().0)
    }
}

impl Tx for &RawMq {
    fn send(&mut self, m: &[u8]) {
        RawMq::send(self, m);
    }
}

impl Rx for &RawMq {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = [0u8; MSG];
        let n = self.receive(&mut buf);
        f(&buf[..n])
    }
}

impl Tx for SpscSender<'_> {
    fn send(&mut self, m: &[u8]) {
        SpscSender::send(self, m);
    }
}

impl Rx for SpscReceiver<'_> {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = [0u8; RING_MESSAGE];
        SpscReceiver::recv(self, &mut buf);
        f(&buf)
    }
}

impl Tx for &MpmcRing {
    fn send(&mut self, m: &[u8]) {
        MpmcRing::send(self, m);
    }
}

impl Rx for &MpmcRing {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = [0u8; RING_MESSAGE];
        MpmcRing::recv(self, &mut buf);
        f(&buf)
    }
}

impl Tx for IpcSender<Vec<u8>> {
    fn send(&mut self, m: &[u8]) {
        IpcSender::send(self, m.to_vec()).unwrap();
    }
}

impl Rx for &IpcReceiver<Vec<u8>> {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&IpcReceiver::recv(self).unwrap())
    }
}

impl Tx for Sender<Vec<u8>> {
    fn send(&mut self, m: &[u8]) {
        Sender::send(self, m.to_vec()).unwrap();
    }
}

impl Rx for Receiver<Vec<u8>> {
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&Receiver::recv(self).unwrap())
    }
}

/// The machine's CPUs, read once before anything is pinned (a pinned process sees one).
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()))
}

/// Forks a peer pinned to `cpu` (modulo the CPUs) that dies with the bench.
fn peer(cpu: usize, body: impl FnOnce()) -> ForkChild {
    let (cpu, parent) = (cpu % cpus(), std::process::id());
    fork_child(move || {
        die_with_parent(parent);
        pin_to_cpu(cpu);
        body();
    })
}

/// Spawns a scoped thread pinned to `cpu` (modulo the CPUs).
fn thread_peer<'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    cpu: usize,
    body: impl FnOnce() + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, ()> {
    let cpu = cpu % cpus();
    s.spawn(move || {
        pin_to_cpu(cpu);
        body();
    })
}

/// The size the POSIX rows ask for: `msg_max`, at most 10 (the kernel's default).
fn posix_capacity() -> usize {
    std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(10, |max| max.min(10))
}

/// A `PosixMq` of [`posix_capacity`] messages of 64 bytes, under a unique name that is
/// removed at once (the descriptor is shared across fork).
fn posix_mq() -> PosixMq {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "multiproc-bench-mq-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mq = PosixMq::options()
        .create(true)
        .exclusive(true)
        .capacity(posix_capacity())
        .message_size(MSG)
        .open(&name)
        .unwrap();
    mq.unlink().unwrap();
    mq
}

fn raw_mq() -> RawMq {
    RawMq::new(posix_capacity(), MSG).unwrap()
}

/// Our queue as the rows use it: a 256 KiB ring, no count limit.
fn queue() -> Queue<Vec<u8>> {
    Queue::builder().capacity(RING).build().unwrap()
}

/// The parent's side of a W4/W4b row: a pipe to each producer (its share of a sample) and one
/// from the consumers (an acknowledgement per end marker taken).
struct Coordinator {
    starts: Vec<PipeWriter>,
    acks: PipeReader,
    /// Data messages asked for so far.
    sent: u64,
}

impl Coordinator {
    /// One sample of `iters` messages shared among the producers; its wall time.
    fn sample(&mut self, iters: u64) -> Duration {
        let n = self.starts.len() as u64;
        let start = Instant::now();
        for (i, s) in self.starts.iter_mut().enumerate() {
            let share = iters / n + u64::from((i as u64) < iters % n);
            s.write_all(&share.to_le_bytes()).unwrap();
        }
        let mut acks = [0u8; MAX_WORKERS];
        let mut got = 0;
        while got < n as usize {
            assert!(
                fd_readable(self.acks.as_fd(), SAMPLE_LIMIT),
                "no acknowledgement within {SAMPLE_LIMIT:?}"
            );
            got += self.acks.read(&mut acks[got..n as usize]).unwrap();
        }
        let took = start.elapsed();
        self.sent += iters;
        took
    }

    /// Tells every producer to send its quit message and return.
    fn quit(&mut self) {
        for s in &mut self.starts {
            s.write_all(&QUIT_SHARE.to_le_bytes()).unwrap();
        }
    }
}

/// A producer: sends its share of each sample, then an end marker; at the end, a quit
/// message.
fn produce(id: usize, mut start: PipeReader, mut tx: impl Tx) {
    let mut seq = 0;
    let mut m = message(DATA, id as u8, 0);
    loop {
        let mut share = [0u8; 8];
        start.read_exact(&mut share).unwrap();
        let share = u64::from_le_bytes(share);
        if share == QUIT_SHARE {
            tx.send(&message(QUIT, id as u8, seq));
            return;
        }
        for _ in 0..share {
            m[8..16].copy_from_slice(&seq.to_le_bytes());
            tx.send(&m);
            seq += 1;
        }
        tx.send(&message(END, id as u8, seq));
    }
}

/// A consumer: checks every message, acknowledges end markers; returns the number of data
/// messages taken once it takes a quit message.
fn consume(mut ack: &PipeWriter, mut rx: impl Rx) -> u64 {
    let mut next = [0u64; MAX_WORKERS];
    let mut taken = 0;
    loop {
        match rx.recv(|m| check(m, &mut next)) {
            DATA => taken += 1,
            END => ack.write_all(&[1]).unwrap(),
            _ => return taken,
        }
    }
}

/// The sample function of a W4/W4b row.
fn spread_bench(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, coord: &mut Coordinator) {
    g.bench_function(name, |b| b.iter_custom(|iters| coord.sample(iters)));
}

/// A W4/W4b row between processes: `n` producers and `n` consumers, forked once. `tx` and
/// `rx` make a producer's and a consumer's end of the channel, in the process that uses it.
fn spread_row<T: Tx, R: Rx>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    n: usize,
    tx: impl Fn() -> T,
    rx: impl Fn() -> R,
) {
    let _watchdog = watchdog(ROW_LIMIT);
    let taken = SharedRegion::new(4096);
    let (acks, ack) = io::pipe().unwrap();
    let mut starts = Vec::new();
    let mut kids = Vec::new();
    for i in 0..n {
        let (start_rx, start_tx) = io::pipe().unwrap();
        kids.push(peer(i, || produce(i, start_rx, tx())));
        starts.push(start_tx);
    }
    for i in 0..n {
        let (taken, ack, rx) = (&taken, &ack, &rx);
        kids.push(peer(i, move || {
            let t = consume(ack, rx());
            taken.atomic_u64(i * 64).store(t, Ordering::Release);
        }));
    }
    let mut coord = Coordinator {
        starts,
        acks,
        sent: 0,
    };
    spread_bench(g, name, &mut coord);
    coord.quit();
    for k in kids {
        k.assert_success();
    }
    let total: u64 = (0..n)
        .map(|i| taken.atomic_u64(i * 64).load(Ordering::Acquire))
        .sum();
    assert_eq!(total, coord.sent, "{name}: messages lost or duplicated");
}

/// A W4/W4b row between threads of this process (crossbeam-channel), run as [`spread_row`].
fn spread_row_threads<T: Tx, R: Rx>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    n: usize,
    tx: impl Fn() -> T + Sync,
    rx: impl Fn() -> R + Sync,
) {
    let _watchdog = watchdog(ROW_LIMIT);
    let (acks, ack) = io::pipe().unwrap();
    let (tx, rx, ack) = (&tx, &rx, &ack);
    let (sent, total) = std::thread::scope(|s| {
        let mut starts = Vec::new();
        let mut producers = Vec::new();
        for i in 0..n {
            let (start_rx, start_tx) = io::pipe().unwrap();
            producers.push(thread_peer(s, i, move || produce(i, start_rx, tx())));
            starts.push(start_tx);
        }
        let consumers: Vec<_> = (0..n)
            .map(|i| {
                let cpu = i % cpus();
                s.spawn(move || {
                    pin_to_cpu(cpu);
                    consume(ack, rx())
                })
            })
            .collect();
        let mut coord = Coordinator {
            starts,
            acks,
            sent: 0,
        };
        spread_bench(g, name, &mut coord);
        coord.quit();
        for p in producers {
            p.join().unwrap();
        }
        let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        (coord.sent, total)
    });
    assert_eq!(total, sent, "{name}: messages lost or duplicated");
}

/// Python's figures for `group`: `args` when measuring, `test_args` in test mode.
fn python(group: &str, args: &[&str], test_args: &[&str]) {
    let inv = Invocation::from_env();
    if !inv.runs(&format!("{group}/python_multiprocessing")) {
        return;
    }
    let args = if inv.is_test() { test_args } else { args };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_script("w4_w5_queue.py", &args);
}

/// W4 (`n` = 1) or W4b (`n` = 2).
fn spread(c: &mut Criterion, group: &str, n: usize) {
    cpus(); // before anything is pinned
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));

    let q = queue();
    spread_row(&mut g, "multiproc_queue", n, || q.clone(), || q.clone());
    drop(q);

    let q = QueueBytes(queue(), Vec::new());
    spread_row(
        &mut g,
        "multiproc_queue_bytes",
        n,
        || q.clone(),
        || q.clone(),
    );
    drop(q);

    let mq = posix_mq();
    spread_row(&mut g, "multiproc_posix_mq", n, || &mq, || &mq);
    drop(mq);

    let mq = raw_mq();
    spread_row(&mut g, "raw_posix_mq", n, || &mq, || &mq);
    drop(mq);

    if n == 1 {
        let ring = SpscRing::new(SLOTS);
        spread_row(
            &mut g,
            "raw_shm_spin_ring",
            n,
            // SAFETY: one producer process makes the only sender.
            || unsafe { ring.sender() },
            // SAFETY: one consumer process makes the only receiver.
            || unsafe { ring.receiver() },
        );
    } else {
        let ring = MpmcRing::new(SLOTS);
        spread_row(&mut g, "raw_shm_spin_ring", n, || &ring, || &ring);
    }

    let (tx, rx) = ipc::channel::<Vec<u8>>().unwrap();
    spread_row(&mut g, "ipc_channel", n, || tx.clone(), || &rx);
    drop((tx, rx));

    let (tx, rx) = bounded::<Vec<u8>>(SLOTS);
    spread_row_threads(
        &mut g,
        "crossbeam_channel_threads",
        n,
        || tx.clone(),
        || rx.clone(),
    );
    g.finish();
}

fn w4(c: &mut Criterion) {
    spread(c, W4, 1);
    python(W4, &["w4", "1000000"], &["w4", "1000"]);
}

fn w4b(c: &mut Criterion) {
    spread(c, W4B, 2);
    python(W4B, &["w4b", "1000000"], &["w4b", "1000"]);
}

/// The W5 server: answers each request with a copy of it, until a quit message.
fn serve(mut requests: impl Rx, mut responses: impl Tx) {
    loop {
        let quit = requests.recv(|m| {
            if m[0] == QUIT {
                return true;
            }
            responses.send(m);
            false
        });
        if quit {
            return;
        }
    }
}

/// The parent's side of W5: a request, then its response, checked.
fn round_trip_bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    requests: &mut impl Tx,
    responses: &mut impl Rx,
) {
    let msg = message(DATA, 0, 0);
    g.bench_function(name, |b| {
        b.iter(|| {
            requests.send(&msg);
            responses.recv(|m| assert!(m == msg, "a wrong response"));
        })
    });
    requests.send(&message(QUIT, 0, 0));
}

/// A W5 row: the parent holds `requests` and `responses`; `server` makes the server's ends
/// (the requests' receiving end, the responses' sending end) in the server process.
fn round_trip_row<R: Rx, T: Tx>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut requests: impl Tx,
    mut responses: impl Rx,
    server: impl FnOnce() -> (R, T),
) {
    let _watchdog = watchdog(ROW_LIMIT);
    let child = peer(1, || {
        let (rx, tx) = server();
        serve(rx, tx);
    });
    round_trip_bench(g, name, &mut requests, &mut responses);
    child.assert_success();
}

fn w5(c: &mut Criterion) {
    cpus(); // before pinning
    pin_to_cpu(0);
    let mut g = c.benchmark_group(W5);

    let (requests, responses) = (queue(), queue());
    round_trip_row(
        &mut g,
        "multiproc_queue",
        requests.clone(),
        responses.clone(),
        || (requests.clone(), responses.clone()),
    );
    drop((requests, responses));

    let (requests, responses) = (
        QueueBytes(queue(), Vec::new()),
        QueueBytes(queue(), Vec::new()),
    );
    round_trip_row(
        &mut g,
        "multiproc_queue_bytes",
        requests.clone(),
        responses.clone(),
        || (requests.clone(), responses.clone()),
    );
    drop((requests, responses));

    let (requests, responses) = (posix_mq(), posix_mq());
    round_trip_row(&mut g, "multiproc_posix_mq", &requests, &responses, || {
        (&requests, &responses)
    });
    drop((requests, responses));

    let (requests, responses) = (raw_mq(), raw_mq());
    round_trip_row(&mut g, "raw_posix_mq", &requests, &responses, || {
        (&requests, &responses)
    });
    drop((requests, responses));

    let (requests, responses) = (SpscRing::new(SLOTS), SpscRing::new(SLOTS));
    round_trip_row(
        &mut g,
        "raw_shm_spin_ring",
        // SAFETY: the parent sends requests and receives responses; the server the reverse.
        unsafe { requests.sender() },
        // SAFETY: as above.
        unsafe { responses.receiver() },
        // SAFETY: as above.
        || unsafe { (requests.receiver(), responses.sender()) },
    );
    drop((requests, responses));

    let (request_tx, request_rx) = ipc::channel::<Vec<u8>>().unwrap();
    let (response_tx, response_rx) = ipc::channel::<Vec<u8>>().unwrap();
    round_trip_row(
        &mut g,
        "ipc_channel",
        request_tx.clone(),
        &response_rx,
        || (&request_rx, response_tx.clone()),
    );
    drop((request_tx, request_rx, response_tx, response_rx));

    {
        let _watchdog = watchdog(ROW_LIMIT);
        let (mut request_tx, request_rx) = bounded::<Vec<u8>>(SLOTS);
        let (response_tx, mut response_rx) = bounded::<Vec<u8>>(SLOTS);
        std::thread::scope(|s| {
            let server = thread_peer(s, 1, move || serve(request_rx, response_tx));
            round_trip_bench(
                &mut g,
                "crossbeam_channel_threads",
                &mut request_tx,
                &mut response_rx,
            );
            server.join().unwrap();
        });
    }
    g.finish();

    python(W5, &["w5", "20000"], &["w5", "10"]);
}

criterion_group!(benches, w4, w4b, w5);
criterion_main!(benches);
