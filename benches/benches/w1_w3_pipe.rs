//! W1–W3 between two processes: multiproc-pipe against its peers, in one run.
//!
//! - W1 `w1_round_trip_64B`: round trip of a 64-byte message (the child echoes it);
//! - W2 `w2_one_way_64B`: one way, 64-byte messages (messages per second);
//! - W3 `w3_one_way_1MiB`: one way, 1 MiB messages (bytes per second).
//!
//! Rows of each group:
//!
//! - `multiproc_pipe`: `multiproc_pipe::pipe()`, `send_bytes` and `recv_bytes` (a new `Vec` per
//!   message, as Python's `recv_bytes` returns new bytes); in W3 also
//!   `multiproc_pipe_recv_into`: `recv_bytes_into` a reused buffer.
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
//!
//! A one-way sample sends its messages, then an end marker that the child acknowledges, so the
//! time covers delivery, not only queuing in the socket buffer. The parent is pinned to CPU 0
//! and every peer process (Rust or Python) to CPU 1: each message crosses cores. Each peer is
//! killed by its pid when its row is done: it holds copies of every end, so it would never see
//! the connection close.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use interprocess::unnamed_pipe;
use ipc_channel::ipc;
use multiproc_benches::python::{run_script, Invocation};
use multiproc_benches::sys::pin_to_cpu;
use multiproc_internal::testing::{fork_child, ForkChild};
use multiproc_pipe::pipe;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

const SMALL: usize = 64;
const LARGE: usize = 1 << 20;

const W1: &str = "w1_round_trip_64B";
const W2: &str = "w2_one_way_64B";
const W3: &str = "w3_one_way_1MiB";

const PARENT_CPU: usize = 0;

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

    let (mut a, mut b) = pipe().unwrap();
    let child = peer(|| {
        while let Ok(m) = b.recv_bytes() {
            if b.send_bytes(&m).is_err() {
                return;
            }
        }
    });
    drop(b);
    g.bench_function("multiproc_pipe", |bench| {
        bench.iter(|| {
            a.send_bytes(&msg).unwrap();
            a.recv_bytes().unwrap()
        })
    });
    stop(child);
    drop(a);

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
    let (mut a, mut b) = pipe().unwrap();
    let child = peer(|| {
        while let Ok(m) = b.recv_bytes() {
            if m.is_empty() && b.send_bytes(b"ack").is_err() {
                return;
            }
        }
    });
    drop(b);
    one_way_row(&mut g, "multiproc_pipe", |iters| {
        for _ in 0..iters {
            a.send_bytes(&msg).unwrap();
        }
        a.send_bytes(b"").unwrap();
        a.recv_bytes().unwrap();
    });
    stop(child);
    drop(a);

    if len >= LARGE {
        let (mut a, mut b) = pipe().unwrap();
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
