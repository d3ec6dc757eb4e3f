//! multiproc-sync's own figures: uncontended `Event`, `Barrier`, `Lock` and `RLock`
//! operations; an `Event` ping-pong round trip between two processes (W7); and W6, 2 processes
//! × 1,000,000 increments of a shared counter under `Lock`, against the same workload under
//! `RLock` and under shm's `Value` lock.
//!
//! The W6 workers here start together at a gate in shared memory but are not pinned (pinning
//! needs `unsafe`, which lives only in `sys` modules): the figures compare the rows of this
//! group with one another. The pinned W6, with the raw futex and pthread peers in the same
//! group, and the W7 peers, are in the workspace's `benches` package.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use multiproc_internal::clock::monotonic_now;
use multiproc_internal::testing::{fork_child, wait_until, ForkChild};
use multiproc_shm::{Atomic, Value};
use multiproc_sync::{Barrier, Event, Lock, RLock};
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn uncontended(c: &mut Criterion) {
    let e = Event::new().unwrap();
    c.bench_function("event/set_wait_clear", |b| {
        b.iter(|| {
            black_box(&e).set();
            black_box(&e).wait();
            black_box(&e).clear();
        })
    });
    let one = Barrier::new(1).unwrap();
    c.bench_function("barrier/one_party_wait", |b| {
        b.iter(|| black_box(&one).wait())
    });
    let lock = Lock::new().unwrap();
    c.bench_function("lock/lock_unlock", |b| {
        b.iter(|| drop(black_box(&lock).lock()))
    });
    let r = RLock::new().unwrap();
    c.bench_function("rlock/lock_unlock", |b| {
        b.iter(|| drop(black_box(&r).lock()))
    });
    c.bench_function("rlock/nested_lock_unlock", |b| {
        // The first level is held across the measurement; each iteration takes and releases a
        // second one.
        let outer = r.lock().unwrap();
        b.iter(|| drop(black_box(&r).lock()));
        drop(outer);
    });
    assert!(!r.is_locked(), "every level was released");
}

fn ping_pong(c: &mut Criterion) {
    let (ping, pong) = (Event::new().unwrap(), Event::new().unwrap());
    let child = fork_child(|| loop {
        ping.wait();
        ping.clear();
        pong.set();
    });
    c.bench_function("event/ping_pong_round_trip", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                ping.set();
                pong.wait();
                pong.clear();
            }
            start.elapsed()
        })
    });
    child.kill().unwrap();
}

const WORKERS: usize = 2;
const EACH: u64 = 1_000_000;

/// A start gate and the workers' start and end times (monotonic clock), in shared memory.
struct Gate {
    ready: Atomic<u32>,
    go: Atomic<u32>,
    start: [Atomic<u64>; WORKERS],
    end: [Atomic<u64>; WORKERS],
}

fn now_ns() -> u64 {
    monotonic_now().as_nanos() as u64
}

impl Gate {
    fn new() -> Gate {
        let zero = |_| Atomic::new(0).unwrap();
        Gate {
            ready: Atomic::new(0).unwrap(),
            go: Atomic::new(0).unwrap(),
            start: std::array::from_fn(zero),
            end: std::array::from_fn(zero),
        }
    }

    /// Forks the workers, each waiting at the gate and then running `work`; opens the gate
    /// once all are ready and waits for each by pid. Returns the span from the first start to
    /// the last end, and whether the workers' runs overlapped (if not, nothing contended).
    fn run(&self, work: impl Fn()) -> (Duration, bool) {
        let work = &work;
        let kids: Vec<ForkChild> = (0..WORKERS)
            .map(|i| {
                fork_child(move || {
                    self.ready.fetch_add(1, Ordering::AcqRel);
                    while self.go.load(Ordering::Acquire) == 0 {
                        std::hint::spin_loop();
                    }
                    self.start[i].store(now_ns(), Ordering::Release);
                    work();
                    self.end[i].store(now_ns(), Ordering::Release);
                })
            })
            .collect();
        wait_until("the workers at the start gate", || {
            self.ready.load(Ordering::Acquire) == WORKERS as u32
        });
        self.go.store(1, Ordering::Release);
        for k in kids {
            k.assert_success();
        }
        let starts = self.start.each_ref().map(|t| t.load(Ordering::Acquire));
        let ends = self.end.each_ref().map(|t| t.load(Ordering::Acquire));
        let (first, last) = (starts.iter().min().unwrap(), ends.iter().max().unwrap());
        let overlap = starts.iter().max().unwrap() < ends.iter().min().unwrap();
        (Duration::from_nanos(last - first), overlap)
    }
}

/// A lock and the counter it protects, in its own shared `Atomic<u64>`: incremented under the
/// lock with a plain load and store (no atomic read-modify-write).
struct Counted<L> {
    lock: L,
    n: Atomic<u64>,
}

impl<L> Counted<L> {
    fn new(lock: L) -> Self {
        Counted {
            lock,
            n: Atomic::new(0).unwrap(),
        }
    }

    /// The increment; the caller holds the lock, which orders these relaxed accesses.
    fn bump(&self) {
        self.n
            .store(self.n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.n.load(Ordering::Acquire)
    }
}

/// Runs `iters` rounds of WORKERS × EACH increments, each on a fresh counter; returns the
/// workers' summed time.
fn rounds<C>(
    iters: u64,
    make: impl Fn() -> C,
    inc: impl Fn(&C),
    total: impl Fn(&C) -> u64,
) -> Duration {
    let mut sum = Duration::ZERO;
    for _ in 0..iters {
        let counter = make();
        let (took, overlapped) = Gate::new().run(|| {
            for _ in 0..EACH {
                inc(&counter);
            }
        });
        assert_eq!(total(&counter), WORKERS as u64 * EACH, "lost increments");
        if !overlapped {
            eprintln!("w6: the workers did not overlap in this round; figure shows no contention");
        }
        sum += took;
    }
    sum
}

fn w6(c: &mut Criterion) {
    let mut g = c.benchmark_group("w6_locked_counter_unpinned");
    g.throughput(Throughput::Elements(WORKERS as u64 * EACH));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("lock", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || Counted::new(Lock::new().unwrap()),
                |c| {
                    let _held = c.lock.lock().unwrap();
                    c.bump();
                },
                Counted::get,
            )
        })
    });
    g.bench_function("rlock", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || Counted::new(RLock::new().unwrap()),
                |c| {
                    let _held = c.lock.lock().unwrap();
                    c.bump();
                },
                Counted::get,
            )
        })
    });
    g.bench_function("shm_value", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || Value::new(0u64).unwrap(),
                |v| *v.lock().unwrap() += 1,
                |v| v.get().unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, uncontended, ping_pong, w6);
criterion_main!(benches);
