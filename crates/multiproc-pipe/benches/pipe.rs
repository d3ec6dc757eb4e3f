//! multiproc-pipe's own figures: `pipe()` (its shared-memory transport), each group against
//! the kernel's transports used raw — a Unix stream socket pair (fixed-size reads and writes,
//! no framing: the floor of the socket transport) and a `pipe(2)` — measured in the same run
//! between two processes:
//!
//! - W1: round trip of a 64-byte message;
//! - W2: one way, 64-byte messages (messages per second);
//! - W3: one way, 1 MiB messages (bytes per second).
//!
//! The socket transport forced with `PipeBuilder`, and the peers of other libraries
//! (ipc-channel, interprocess, iceoryx2, crossbeam-channel between threads), are in the
//! workspace's `benches` package.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use multiproc_internal::testing::{fork_child, ForkChild};
use multiproc_pipe::pipe;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

const SMALL: usize = 64;
const LARGE: usize = 1 << 20;

/// Ends a peer: it holds copies of both ends, so it would never see the connection close.
fn stop(child: ForkChild) {
    child.kill().unwrap();
    child.wait();
}

/// Raw streams carry fixed-size messages; the first byte says whether one is the last.
fn raw_echo(mut s: UnixStream, len: usize) {
    let mut buf = vec![0u8; len];
    loop {
        if s.read_exact(&mut buf).is_err() {
            return;
        }
        if s.write_all(&buf).is_err() {
            return;
        }
    }
}

fn w1(c: &mut Criterion) {
    let mut g = c.benchmark_group("w1_round_trip_64B");
    let (mut a, mut b) = pipe().unwrap();
    let child = fork_child(|| {
        while let Ok(m) = b.recv_bytes() {
            if b.send_bytes(&m).is_err() {
                return;
            }
        }
    });
    drop(b);
    let msg = [7u8; SMALL];
    g.bench_function("multiproc_pipe", |bench| {
        bench.iter(|| {
            a.send_bytes(&msg).unwrap();
            a.recv_bytes().unwrap()
        })
    });
    stop(child);

    let (mut s, t) = UnixStream::pair().unwrap();
    let child = fork_child(|| raw_echo(t.try_clone().unwrap(), SMALL));
    drop(t);
    let mut back = [0u8; SMALL];
    g.bench_function("raw_socketpair", |bench| {
        bench.iter(|| {
            s.write_all(&msg).unwrap();
            s.read_exact(&mut back).unwrap();
        })
    });
    stop(child);
    g.finish();
}

/// One way: the parent sends `iters` messages of `len` bytes, then an end marker, and waits for
/// the child's acknowledgement.
fn one_way(c: &mut Criterion, group: &str, len: usize, throughput: Throughput) {
    let mut g = c.benchmark_group(group);
    g.throughput(throughput);
    if len >= LARGE {
        g.sample_size(10);
    }
    let (mut a, mut b) = pipe().unwrap();
    let child = fork_child(|| {
        let mut buf = vec![0u8; len];
        loop {
            match b.recv_bytes_into(&mut buf) {
                Ok(0) => b.send_bytes(b"ack").unwrap(),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    drop(b);
    let msg = vec![7u8; len];
    g.bench_function("multiproc_pipe", |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                a.send_bytes(&msg).unwrap();
            }
            a.send_bytes(b"").unwrap();
            a.recv_bytes().unwrap();
            start.elapsed()
        })
    });
    stop(child);

    // Raw: a stream socket both ways, and a pipe(2) with the answer on a second pipe.
    let (s, t) = UnixStream::pair().unwrap();
    let (s2, t2) = (s.try_clone().unwrap(), t.try_clone().unwrap());
    raw_one_way(&mut g, "raw_socketpair", len, (t, t2), (s, s2));
    let (r1, w1) = std::io::pipe().unwrap();
    let (r2, w2) = std::io::pipe().unwrap();
    raw_one_way(&mut g, "raw_pipe", len, (r1, w2), (w1, r2));
    g.finish();
}

/// One way over a raw transport: fixed-size messages whose first byte is 1 on the last one,
/// which the child answers with one byte. The child gets `(input, answer)`, the parent keeps
/// `(output, answers)`.
fn raw_one_way<R: Read, W: Write, R2: Read, W2: Write>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    len: usize,
    child_side: (R, W2),
    parent_side: (W, R2),
) {
    let (mut input, mut answer) = child_side;
    let child = fork_child(|| {
        let mut buf = vec![0u8; len];
        while input.read_exact(&mut buf).is_ok() {
            if buf[0] == 1 && answer.write_all(&[1]).is_err() {
                return;
            }
        }
    });
    drop((input, answer));
    let (mut output, mut answers) = parent_side;
    let msg = vec![7u8; len];
    let mut last = vec![7u8; len];
    last[0] = 1;
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                output.write_all(&msg).unwrap();
            }
            output.write_all(&last).unwrap();
            answers.read_exact(&mut [0u8; 1]).unwrap();
            start.elapsed()
        })
    });
    stop(child);
}

fn w2(c: &mut Criterion) {
    one_way(c, "w2_one_way_64B", SMALL, Throughput::Elements(1));
}

fn w3(c: &mut Criterion) {
    one_way(c, "w3_one_way_1MiB", LARGE, Throughput::Bytes(LARGE as u64));
}

criterion_group!(benches, w1, w2, w3);
criterion_main!(benches);
