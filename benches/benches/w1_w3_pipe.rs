//! W1–W3 between two processes: multiproc-pipe against its peers, in one run.
//!
//! - W1 `w1_round_trip_64B`: round trip of a 64-byte message (the child echoes it);
//! - W2 `w2_one_way_64B`: one way, 64-byte messages (messages per second);
//! - W3 `w3_one_way_1MiB`: one way, 1 MiB messages (bytes per second).
//!
//! Rows of each group:
//!
//! - `multiproc_pipe`: `multiproc_pipe::pipe()` (its shared-memory transport: 256 KiB rings),
//!   `send_bytes` and `recv_bytes` (a new `Vec` per message, as Python's `recv_bytes` returns
//!   new bytes); in W3 also `multiproc_pipe_recv_into`: `recv_bytes_into` a reused buffer.
//! - `multiproc_pipe_socket`: the same over its socket transport (`PipeBuilder` with
//!   `Transport::Socket`).
//! - `raw_socketpair`, the floor: a Unix stream socket pair with fixed-size reads and writes,
//!   no framing, no allocation.
//! - `ipc_channel`: ipc-channel's `ipc::bytes_channel()` (bytes, no serialization), one channel
//!   per direction (its channels are one-way). Its channels are file descriptors, created
//!   before the fork and inherited by the child.
//! - `interprocess_unnamed_pipe`: interprocess's unnamed pipes, which its docs name for talking
//!   to a child process (its local sockets need a name and a listener), one per direction.
//!   They carry bytes without framing, so messages are framed here as multiproc-pipe frames
//!   them: an 8-byte length, then the bytes; a small message written with one `write`; read
//!   through a 64 KiB `BufReader` (multiproc-pipe also reads ahead 64 KiB).
//! - Python's `multiprocessing.Pipe()` (`send_bytes`/`recv_bytes`, a child `Process`, the fork
//!   start method): `benches/python/w1_w3_pipe.py`, run once per group after the Rust rows
//!   with fixed counts (20,000 round trips; 1,000,000 messages; 1 GiB, fewer messages if it
//!   takes over 10 s), printed as a `<group>/python_multiprocessing` line beside criterion's.
//!   One run each, not a criterion estimate. With a filter it runs only if the filter is a
//!   substring of that name; in test mode (`cargo test --benches`) it runs with tiny counts;
//!   without `python3` it is skipped with a note.
//! - `iceoryx2`: iceoryx2's publish/subscribe (`ipc` services: shared memory and lock-free
//!   queues, no system call per message), between the parent and a forked peer, one service
//!   per direction: W1's peer echoes on the second service, W2's and W3's acknowledge the end
//!   marker on it. Used copy-in/copy-out, to move the same messages as the other rows: the
//!   publisher loans a slice (`loan_slice_uninit`), copies the message in
//!   (`write_from_slice`) and sends it; the subscriber busy-polls `receive()` (with
//!   `spin_loop`, never sleeping: its core is busy all the time it waits), copies the payload
//!   out into a new `Vec` and releases the sample. iceoryx2's zero-copy use (building the
//!   message in the loan, reading it in place) saves both copies and is not measured here.
//!   Per service: one publisher, one subscriber, no history, a subscriber queue of `slots`
//!   messages (below), no safe overflow and `RetryUntilDelivered` (a full queue makes the
//!   publisher retry: nothing is dropped), a maximum slice of one message (64 bytes or
//!   1 MiB). The peer makes its own node and ports after the fork (iceoryx2 is not fork-safe
//!   with live nodes) and announces itself before the parent sends. Each row runs in a private
//!   iceoryx2 domain (its own root folder in the temp directory and file prefix, both naming
//!   the pid): the peer is told to quit rather than killed, so both nodes drop and remove their
//!   files, then the row removes the domain, failing if anything but iceoryx2's node counter
//!   (a 16-byte shared-memory object it keeps on purpose) was left.
//! - `crossbeam_channel_threads`, the in-process ceiling: crossbeam-channel's bounded channels
//!   between the bench's thread (CPU 0) and a peer thread pinned to CPU 1, moving `Vec<u8>`:
//!   the sender copies each message into a new `Vec` (as `recv_bytes` returns a new one) and
//!   moves it through; in W2 and W3 the peer copies the bytes out into a new `Vec` of its own
//!   (so every byte crosses to its core, as in the process rows: a peer that drops the `Vec`
//!   unread moves no data between cores at all) and acknowledges the end marker (an empty
//!   `Vec`) on a second channel; in W1 it sends the same `Vec` back. So a copy in and a copy
//!   out per message, as the process rows. Blocking `send`/`recv` (crossbeam spins a little,
//!   then parks the thread).
//!
//! Queue sizes: the bounded queues (crossbeam's channels, iceoryx2's subscriber queues) hold
//! `slots(len)` messages, as many as a 256 KiB ring holds (4096 of 64 bytes), at least 4: so
//! 4 of 1 MiB (4 MiB in flight) in W3, where a 256 KiB ring would hold none whole.
//!
//! A one-way sample sends its messages, then an end marker that the child acknowledges, so the
//! time covers delivery, not only queuing in the socket buffer. The parent is pinned to CPU 0
//! and every peer process (Rust or Python) or thread to CPU 1: each message crosses cores.
//! Each peer process but iceoryx2's is killed by its pid when its row is done: it holds copies
//! of every end, so it would never see the connection close.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_channel::bounded;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::{
    BackpressureStrategy, Config, FileName, Node, NodeBuilder, Path, SemanticString,
    SignalHandlingMode,
};
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;
use interprocess::unnamed_pipe;
use ipc_channel::ipc;
use multiproc_benches::python::{run_script, Invocation};
use multiproc_benches::sys::pin_to_cpu;
use multiproc_internal::testing::{fork_child, ForkChild};
use multiproc_pipe::{Connection, PipeBuilder, Transport};
use std::hint::{black_box, spin_loop};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

const SMALL: usize = 64;
const LARGE: usize = 1 << 20;

const W1: &str = "w1_round_trip_64B";
const W2: &str = "w2_one_way_64B";
const W3: &str = "w3_one_way_1MiB";

const PARENT_CPU: usize = 0;

/// multiproc-pipe's rows: `pipe()` as it comes (shared memory), and forced onto a socket.
const TRANSPORTS: [(&str, Transport); 2] = [
    ("multiproc_pipe", Transport::SharedMemory),
    ("multiproc_pipe_socket", Transport::Socket),
];

/// A duplex pipe over `transport` (the default ring size and message cap).
fn pipe(transport: Transport) -> (Connection, Connection) {
    PipeBuilder::new().transport(transport).duplex().unwrap()
}

/// The machine's CPUs, read once before anything is pinned (a pinned process sees one).
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()))
}

/// Forks a peer pinned to the other CPU.
fn peer(body: impl FnOnce()) -> ForkChild {
    let cpus = cpus();
    fork_child(move || {
        pin_to_cpu((PARENT_CPU + 1) % cpus);
        body();
    })
}

/// Ends a peer by its pid (through its pidfd) and reaps it.
fn stop(child: ForkChild) {
    child.kill().unwrap();
    child.wait();
}

/// The in-flight budget of the bounded queues (crossbeam's channels, iceoryx2's subscriber
/// queues): a 256 KiB ring's worth.
const RING: usize = 256 << 10;

/// Slots of a bounded queue of `len`-byte messages: as many as fill a 256 KiB ring (4096 of
/// 64 bytes), at least 4 (so 4 of 1 MiB: 4 MiB in flight).
fn slots(len: usize) -> usize {
    (RING / len).max(4)
}

/// Spawns a peer thread that pins itself to the other CPU (`pin_to_cpu` sets the calling
/// thread's affinity: `sched_setaffinity(0, ...)`).
fn thread_peer(body: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    let cpu = (PARENT_CPU + 1) % cpus();
    std::thread::spawn(move || {
        pin_to_cpu(cpu);
        body();
    })
}

/// Control messages of the iceoryx2 rows: a single byte, which no workload's message is.
const IOX_READY: &[u8] = b"r";
/// The end of a one-way sample, acknowledged with [`IOX_ACK`].
const IOX_END: &[u8] = b"e";
const IOX_ACK: &[u8] = b"a";
/// Tells the peer to drop its iceoryx2 ports and node and return.
const IOX_QUIT: &[u8] = b"q";

/// iceoryx2's inter-process service variant.
type Ipc = iceoryx2::service::ipc::Service;
type IoxService = PortFactory<Ipc, [u8], ()>;

/// Where iceoryx2 keeps its shared-memory objects on Linux.
const SHM_DIR: &str = "/dev/shm";

/// A private iceoryx2 domain for one row: a root directory and a file prefix of its own (the
/// pid and a row number), so the row neither sees nor cleans up another iceoryx2 user's
/// resources, and can check that it left none of its own.
struct IoxDomain {
    config: Config,
    root: std::path::PathBuf,
    prefix: String,
}

impl IoxDomain {
    fn new() -> IoxDomain {
        static ROWS: AtomicU32 = AtomicU32::new(0);
        let (pid, row) = (std::process::id(), ROWS.fetch_add(1, Ordering::Relaxed));
        let prefix = format!("multiproc_bench_{pid}_{row}_");
        let root = std::env::temp_dir().join(format!("multiproc-bench-iceoryx2-{pid}-{row}"));
        let mut config = Config::default();
        config.global.prefix = FileName::new(prefix.as_bytes()).expect("iceoryx2 prefix");
        let root_path = format!("{}/", root.display());
        config
            .global
            .set_root_path(&Path::new(root_path.as_bytes()).expect("iceoryx2 root path"));
        IoxDomain {
            config,
            root,
            prefix,
        }
    }

    /// Removes the domain once its last node is gone: what may remain is folders under the
    /// root and, in shared memory, the domain's node counter, which iceoryx2 keeps on purpose
    /// (nothing owns it). Anything else is a leak, and fails the row.
    fn remove(self) {
        fn remove_folders(dir: &std::path::Path) {
            for entry in std::fs::read_dir(dir).expect("read iceoryx2 root") {
                let path = entry.expect("iceoryx2 root entry").path();
                assert!(path.is_dir(), "iceoryx2 left {}", path.display());
                remove_folders(&path);
            }
            std::fs::remove_dir(dir).expect("remove iceoryx2 folder");
        }
        remove_folders(&self.root);
        for entry in std::fs::read_dir(SHM_DIR).expect("read /dev/shm") {
            let entry = entry.expect("/dev/shm entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&self.prefix) {
                assert!(
                    name.ends_with(".global_mgmt"),
                    "iceoryx2 left {SHM_DIR}/{name}"
                );
                std::fs::remove_file(entry.path()).expect("remove iceoryx2 node counter");
            }
        }
    }
}

/// One side of an iceoryx2 connection: a publisher on one service, a subscriber on the other.
/// Fields drop in order: ports, then services, then the node (which removes its files; the
/// last node of a service removes the service's).
struct IoxEnd {
    tx: Publisher<Ipc, [u8], ()>,
    rx: Subscriber<Ipc, [u8], ()>,
    _services: [IoxService; 2],
    _node: Node<Ipc>,
}

impl IoxEnd {
    /// Opens (or creates) the services `out` and `input` in `domain`, publishes on `out` and
    /// subscribes to `input`. Every message is at most `max_len` bytes; each subscriber queues
    /// up to `slots` of them, and a full queue makes the publisher retry (no overflow, no
    /// loss).
    fn new(domain: &IoxDomain, out: &str, input: &str, max_len: usize, slots: usize) -> IoxEnd {
        let node = NodeBuilder::new()
            .config(&domain.config)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Ipc>()
            .expect("iceoryx2 node");
        let service = |name: &str| {
            node.service_builder(&name.try_into().expect("iceoryx2 service name"))
                .publish_subscribe::<[u8]>()
                .max_publishers(1)
                .max_subscribers(1)
                .max_nodes(2)
                .history_size(0)
                .subscriber_max_buffer_size(slots)
                .enable_safe_overflow(false)
                .open_or_create()
                .expect("iceoryx2 service")
        };
        let (out, input) = (service(out), service(input));
        let tx = out
            .publisher_builder()
            .initial_max_slice_len(max_len)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .expect("iceoryx2 publisher");
        let rx = input
            .subscriber_builder()
            .buffer_size(slots)
            .create()
            .expect("iceoryx2 subscriber");
        IoxEnd {
            tx,
            rx,
            _services: [out, input],
            _node: node,
        }
    }

    /// Loans a slice, copies `msg` in, sends it.
    fn send(&self, msg: &[u8]) {
        let sample = self.tx.loan_slice_uninit(msg.len()).expect("iceoryx2 loan");
        sample.write_from_slice(msg).send().expect("iceoryx2 send");
    }

    /// Busy-polls for a sample and copies its bytes out into a new `Vec`.
    fn recv(&self) -> Vec<u8> {
        loop {
            if let Some(sample) = self.rx.receive().expect("iceoryx2 receive") {
                return sample.payload().to_vec();
            }
            spin_loop();
        }
    }
}

/// An iceoryx2 row's two processes and their domain.
struct IoxRow {
    end: IoxEnd,
    child: ForkChild,
    domain: IoxDomain,
}

impl IoxRow {
    /// The parent creates the services and its ports, then forks a peer that makes its own
    /// node and ports (after the fork: iceoryx2 is not fork-safe with live nodes) and runs
    /// `body`; the peer announces itself with [`IOX_READY`], so the parent sends nothing before
    /// the peer subscribes.
    fn new(group: &str, max_len: usize, slots: usize, body: impl FnOnce(&IoxEnd)) -> IoxRow {
        let domain = IoxDomain::new();
        let (down, up) = (format!("{group}/down"), format!("{group}/up"));
        let end = IoxEnd::new(&domain, &down, &up, max_len, slots);
        let child = peer(|| {
            let end = IoxEnd::new(&domain, &up, &down, max_len, slots);
            end.send(IOX_READY);
            body(&end);
        });
        assert_eq!(end.recv(), IOX_READY);
        IoxRow { end, child, domain }
    }

    /// Ends the row: the peer drops its ports and node on [`IOX_QUIT`] and exits (killing it
    /// would leave its node's files behind); then the parent's go, then the domain.
    fn stop(self) {
        self.end.send(IOX_QUIT);
        let exit = self.child.wait();
        drop(self.end);
        assert!(exit.success(), "iceoryx2 peer: {exit:?}");
        self.domain.remove();
    }
}

/// Python's figures for `group`: `args` when measuring, `test_args` in test mode.
fn python(group: &str, args: &[&str], test_args: &[&str]) {
    let inv = Invocation::from_env();
    if !inv.runs(&format!("{group}/python_multiprocessing")) {
        return;
    }
    let args = if inv.is_test() { test_args } else { args };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_script("w1_w3_pipe.py", &args);
}

/// The writing half of length-prefixed messages over a byte stream (interprocess's pipes):
/// an 8-byte little-endian length, then the bytes.
struct FramedWriter<W> {
    out: W,
    buf: Vec<u8>,
}

/// Messages up to this size go out with their header in one `write`, as multiproc-pipe sends
/// them; larger ones as two writes (header, then the bytes in place).
const ONE_WRITE: usize = 2048;

impl<W: Write> FramedWriter<W> {
    fn new(out: W) -> Self {
        FramedWriter {
            out,
            buf: Vec::with_capacity(8 + ONE_WRITE),
        }
    }

    /// Never flushes: interprocess's `flush` on a pipe is an `fsync`.
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let header = (msg.len() as u64).to_le_bytes();
        if msg.len() <= ONE_WRITE {
            self.buf.clear();
            self.buf.extend_from_slice(&header);
            self.buf.extend_from_slice(msg);
            self.out.write_all(&self.buf)
        } else {
            self.out.write_all(&header)?;
            self.out.write_all(msg)
        }
    }
}

/// The reading half of [`FramedWriter`]'s messages, through a 64 KiB read-ahead buffer.
struct FramedReader<R> {
    input: BufReader<R>,
}

/// The largest message a [`FramedReader`] accepts (multiproc-pipe's default cap).
const MAX_MESSAGE: u64 = 1 << 30;

impl<R: Read> FramedReader<R> {
    fn new(input: R) -> Self {
        FramedReader {
            input: BufReader::with_capacity(64 << 10, input),
        }
    }

    fn recv(&mut self) -> io::Result<Vec<u8>> {
        let mut header = [0u8; 8];
        self.input.read_exact(&mut header)?;
        let len = u64::from_le_bytes(header);
        if len > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message too large",
            ));
        }
        let mut msg = vec![0u8; len as usize];
        self.input.read_exact(&mut msg)?;
        Ok(msg)
    }
}

fn w1(c: &mut Criterion) {
    cpus(); // before pinning
    pin_to_cpu(PARENT_CPU);
    let mut g = c.benchmark_group(W1);
    let msg = [7u8; SMALL];

    for (name, transport) in TRANSPORTS {
        let (mut a, mut b) = pipe(transport);
        let child = peer(|| {
            while let Ok(m) = b.recv_bytes() {
                if b.send_bytes(&m).is_err() {
                    return;
                }
            }
        });
        drop(b);
        g.bench_function(name, |bench| {
            bench.iter(|| {
                a.send_bytes(&msg).unwrap();
                a.recv_bytes().unwrap()
            })
        });
        stop(child);
        drop(a);
    }

    let (mut s, t) = UnixStream::pair().unwrap();
    let child = peer(move || {
        let mut t = t;
        let mut buf = [0u8; SMALL];
        while t.read_exact(&mut buf).is_ok() {
            if t.write_all(&buf).is_err() {
                return;
            }
        }
    });
    let mut back = [0u8; SMALL];
    g.bench_function("raw_socketpair", |bench| {
        bench.iter(|| {
            s.write_all(&msg).unwrap();
            s.read_exact(&mut back).unwrap();
        })
    });
    stop(child);
    drop(s);

    let (to_child, from_parent) = ipc::bytes_channel().unwrap();
    let (to_parent, from_child) = ipc::bytes_channel().unwrap();
    let child = peer(move || {
        while let Ok(m) = from_parent.recv() {
            if to_parent.send(&m).is_err() {
                return;
            }
        }
    });
    g.bench_function("ipc_channel", |bench| {
        bench.iter(|| {
            to_child.send(&msg).unwrap();
            from_child.recv().unwrap()
        })
    });
    stop(child);
    drop((to_child, from_child));

    let (down_tx, down_rx) = unnamed_pipe::pipe().unwrap();
    let (up_tx, up_rx) = unnamed_pipe::pipe().unwrap();
    let child = peer(move || {
        let (mut input, mut output) = (FramedReader::new(down_rx), FramedWriter::new(up_tx));
        while let Ok(m) = input.recv() {
            if output.send(&m).is_err() {
                return;
            }
        }
    });
    let (mut output, mut input) = (FramedWriter::new(down_tx), FramedReader::new(up_rx));
    g.bench_function("interprocess_unnamed_pipe", |bench| {
        bench.iter(|| {
            output.send(&msg).unwrap();
            input.recv().unwrap()
        })
    });
    stop(child);
    drop((output, input));

    // iceoryx2: one service per direction; the peer echoes each message (copied out, then in).
    let iox = IoxRow::new(W1, SMALL, slots(SMALL), |end| loop {
        let m = end.recv();
        if m == IOX_QUIT {
            return;
        }
        end.send(&m);
    });
    g.bench_function("iceoryx2", |bench| {
        bench.iter(|| {
            iox.end.send(&msg);
            iox.end.recv()
        })
    });
    iox.stop();

    // crossbeam-channel between two threads, one channel per direction; the peer thread sends
    // back the `Vec` it received.
    let (to_peer, from_main) = bounded::<Vec<u8>>(slots(SMALL));
    let (to_main, from_peer) = bounded::<Vec<u8>>(slots(SMALL));
    let thread = thread_peer(move || {
        while let Ok(m) = from_main.recv() {
            if to_main.send(m).is_err() {
                return;
            }
        }
    });
    g.bench_function("crossbeam_channel_threads", |bench| {
        bench.iter(|| {
            to_peer.send(msg.to_vec()).unwrap();
            from_peer.recv().unwrap()
        })
    });
    drop((to_peer, from_peer));
    thread.join().unwrap();
    g.finish();

    python(W1, &["w1", "20000"], &["w1", "10"]);
}

/// A one-way row: `round(iters)` sends `iters` messages, then the end marker, and waits for
/// the child's acknowledgement; the sample is its wall time.
fn one_way_row(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut round: impl FnMut(u64)) {
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            round(iters);
            start.elapsed()
        })
    });
}

fn one_way(c: &mut Criterion, group: &str, len: usize, throughput: Throughput) {
    cpus(); // before pinning
    pin_to_cpu(PARENT_CPU);
    let mut g = c.benchmark_group(group);
    g.throughput(throughput);
    if len >= LARGE {
        g.sample_size(10);
    }
    let msg = vec![7u8; len];

    // multiproc-pipe: the end marker is an empty message, answered with "ack".
    for (name, transport) in TRANSPORTS {
        let (mut a, mut b) = pipe(transport);
        let child = peer(|| {
            while let Ok(m) = b.recv_bytes() {
                if m.is_empty() && b.send_bytes(b"ack").is_err() {
                    return;
                }
            }
        });
        drop(b);
        one_way_row(&mut g, name, |iters| {
            for _ in 0..iters {
                a.send_bytes(&msg).unwrap();
            }
            a.send_bytes(b"").unwrap();
            a.recv_bytes().unwrap();
        });
        stop(child);
        drop(a);
    }

    if len >= LARGE {
        let (mut a, mut b) = pipe(Transport::SharedMemory);
        let child = peer(|| {
            let mut buf = vec![0u8; len];
            loop {
                match b.recv_bytes_into(&mut buf) {
                    Ok(0) => {
                        if b.send_bytes(b"ack").is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        drop(b);
        one_way_row(&mut g, "multiproc_pipe_recv_into", |iters| {
            for _ in 0..iters {
                a.send_bytes(&msg).unwrap();
            }
            a.send_bytes(b"").unwrap();
            a.recv_bytes().unwrap();
        });
        stop(child);
    }

    // Raw: fixed-size messages; the first byte is 1 on the last, answered with one byte.
    let (mut s, t) = UnixStream::pair().unwrap();
    let child = peer(move || {
        let mut t = t;
        let mut buf = vec![0u8; len];
        while t.read_exact(&mut buf).is_ok() {
            if buf[0] == 1 && t.write_all(&[1]).is_err() {
                return;
            }
        }
    });
    let mut last = msg.clone();
    last[0] = 1;
    one_way_row(&mut g, "raw_socketpair", |iters| {
        for _ in 0..iters {
            s.write_all(&msg).unwrap();
        }
        s.write_all(&last).unwrap();
        s.read_exact(&mut [0u8; 1]).unwrap();
    });
    stop(child);
    drop(s);

    // ipc-channel: the end marker is an empty message, answered on a second channel.
    let (tx, rx) = ipc::bytes_channel().unwrap();
    let (ack_tx, ack_rx) = ipc::bytes_channel().unwrap();
    let child = peer(move || {
        while let Ok(m) = rx.recv() {
            if m.is_empty() && ack_tx.send(b"ack").is_err() {
                return;
            }
        }
    });
    one_way_row(&mut g, "ipc_channel", |iters| {
        for _ in 0..iters {
            tx.send(&msg).unwrap();
        }
        tx.send(b"").unwrap();
        ack_rx.recv().unwrap();
    });
    stop(child);
    drop((tx, ack_rx));

    // interprocess: framed messages down one pipe, the acknowledgement up another.
    let (down_tx, down_rx) = unnamed_pipe::pipe().unwrap();
    let (up_tx, up_rx) = unnamed_pipe::pipe().unwrap();
    let child = peer(move || {
        let (mut input, mut up_tx) = (FramedReader::new(down_rx), up_tx);
        while let Ok(m) = input.recv() {
            if m.is_empty() && up_tx.write_all(&[1]).is_err() {
                return;
            }
        }
    });
    let (mut output, mut up_rx) = (FramedWriter::new(down_tx), up_rx);
    one_way_row(&mut g, "interprocess_unnamed_pipe", |iters| {
        for _ in 0..iters {
            output.send(&msg).unwrap();
        }
        output.send(b"").unwrap();
        up_rx.read_exact(&mut [0u8; 1]).unwrap();
    });
    stop(child);
    drop((output, up_rx));

    // iceoryx2: messages down one service, the acknowledgement up the other.
    let iox = IoxRow::new(group, len, slots(len), |end| loop {
        let m = end.recv();
        if m == IOX_QUIT {
            return;
        }
        if m == IOX_END {
            end.send(IOX_ACK);
        }
    });
    one_way_row(&mut g, "iceoryx2", |iters| {
        for _ in 0..iters {
            iox.end.send(&msg);
        }
        iox.end.send(IOX_END);
        assert_eq!(iox.end.recv(), IOX_ACK);
    });
    iox.stop();

    // crossbeam-channel between two threads: a new `Vec` per message (the copy in); the end
    // marker is an empty one, acknowledged on a second channel.
    let (tx, rx) = bounded::<Vec<u8>>(slots(len));
    let (ack_tx, ack_rx) = bounded::<()>(1);
    let thread = thread_peer(move || {
        while let Ok(m) = rx.recv() {
            if m.is_empty() {
                if ack_tx.send(()).is_err() {
                    return;
                }
            } else {
                // Read every byte on this core, into a buffer of its own (as a receiving
                // process gets the bytes).
                black_box(m.to_vec());
            }
        }
    });
    one_way_row(&mut g, "crossbeam_channel_threads", |iters| {
        for _ in 0..iters {
            tx.send(msg.to_vec()).unwrap();
        }
        tx.send(Vec::new()).unwrap();
        ack_rx.recv().unwrap();
    });
    drop((tx, ack_rx));
    thread.join().unwrap();
    g.finish();
}

fn w2(c: &mut Criterion) {
    one_way(c, W2, SMALL, Throughput::Elements(1));
    python(W2, &["w2", "1000000"], &["w2", "1000"]);
}

fn w3(c: &mut Criterion) {
    one_way(c, W3, LARGE, Throughput::Bytes(LARGE as u64));
    python(W3, &["w3", "1024", "10"], &["w3", "4", "10"]);
}

criterion_group!(benches, w1, w2, w3);
criterion_main!(benches);
