//! multiproc-mqueue's own figures for `Queue<Vec<u8>>` (`Queue::new(0)`: the default ring,
//! no count limit), 64-byte items:
//!
//! - W4 `w4_queue_1to1_64B`: one way from the parent to a consumer process (items per
//!   second); a sample puts its items, then an empty `Vec` that the consumer acknowledges on a
//!   second queue;
//! - W5 `w5_queue_round_trip_64B`: the parent puts a request, a server process puts it back
//!   on a second queue, the parent gets it;
//! - `uncontended`: a `put` and a `get` in one process, nobody else using the queue: of a
//!   64-byte `Vec<u8>` (`put_get_64B`; serde encodes and decodes it byte by byte), and of a
//!   `u64` (`put_get_u64`: the queue's own cost, next to nothing to encode).
//!
//! The peers (POSIX message queues, a raw shared-memory ring, ipc-channel, crossbeam-channel
//! between threads, Python) and W4b (two producers, two consumers) are in the workspace's
//! `benches` package (`w4_w5_queue`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use multiproc_internal::testing::{fork_child, watchdog, ForkChild};
use multiproc_mqueue::Queue;
use std::hint::black_box;
use std::time::{Duration, Instant};

const MSG: usize = 64;

/// A group that takes longer than this is taken for hung: the bench aborts (and its children
/// die with it: [`peer`]).
const LIMIT: Duration = Duration::from_secs(300);

/// Forks a child running `body` that the kernel kills if the bench ends first (a watchdog
/// abort): a child blocked on a queue would otherwise wait for good.
fn peer(body: impl FnOnce()) -> ForkChild {
    let parent = std::process::id();
    fork_child(move || {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        if std::os::unix::process::parent_id() != parent {
            return; // the bench is already gone
        }
        body();
    })
}

fn w4(c: &mut Criterion) {
    let _watchdog = watchdog(LIMIT);
    let mut g = c.benchmark_group("w4_queue_1to1_64B");
    g.throughput(Throughput::Elements(1));
    let (q, acks) = (
        Queue::<Vec<u8>>::new(0).unwrap(),
        Queue::<()>::new(0).unwrap(),
    );
    let child = peer(|| {
        // Until the parent closes the queue.
        while let Ok(m) = q.get() {
            if m.is_empty() {
                acks.put(()).unwrap();
            } else {
                black_box(m);
            }
        }
    });
    let msg = vec![7u8; MSG];
    g.bench_function("multiproc_queue", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                q.put(msg.clone()).unwrap();
            }
            q.put(Vec::new()).unwrap();
            acks.get().unwrap();
            start.elapsed()
        })
    });
    q.close();
    child.assert_success();
    g.finish();
}

fn w5(c: &mut Criterion) {
    let _watchdog = watchdog(LIMIT);
    let mut g = c.benchmark_group("w5_queue_round_trip_64B");
    let (requests, responses) = (
        Queue::<Vec<u8>>::new(0).unwrap(),
        Queue::<Vec<u8>>::new(0).unwrap(),
    );
    let child = peer(|| {
        // Until the parent closes the requests.
        while let Ok(m) = requests.get() {
            responses.put(m).unwrap();
        }
    });
    let msg = vec![7u8; MSG];
    g.bench_function("multiproc_queue", |b| {
        b.iter(|| {
            requests.put(msg.clone()).unwrap();
            responses.get().unwrap()
        })
    });
    requests.close();
    child.assert_success();
    g.finish();
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended");
    let q = Queue::<Vec<u8>>::new(0).unwrap();
    let msg = vec![7u8; MSG];
    g.bench_function("put_get_64B", |b| {
        b.iter(|| {
            q.put(msg.clone()).unwrap();
            q.get().unwrap()
        })
    });
    let mut buf = Vec::new();
    g.bench_function("put_bytes_get_bytes_into_64B", |b| {
        b.iter(|| {
            q.put_bytes(&msg).unwrap();
            q.get_bytes_into(&mut buf).unwrap()
        })
    });
    let q = Queue::<u64>::new(0).unwrap();
    g.bench_function("put_get_u64", |b| {
        b.iter(|| {
            q.put(black_box(7)).unwrap();
            q.get().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, w4, w5, uncontended);
criterion_main!(benches);
