//! W6: 2 processes × 1,000,000 increments of a shared counter under a lock, one process
//! pinned per core, started together at a gate. multiproc's robust locks (shm's `Value`,
//! multiproc-sync's `Lock` and `RLock`) and, in the same group, a raw futex mutex (the floor),
//! pthread process-shared mutexes (plain and robust), and raw_sync.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use multiproc_benches::sys::{FutexCounter, PthreadCounter, RawSyncCounter};
use multiproc_benches::Gate;
use multiproc_shm::{Atomic, Value};
use multiproc_sync::{Lock, RLock};
use std::sync::atomic::Ordering;
use std::time::Duration;

const EACH: u64 = 1_000_000;

/// A multiproc-sync lock (`Lock` or `RLock`) and the counter it protects, in its own shared
/// `Atomic<u64>`: incremented under the lock with a plain load and store (no atomic
/// read-modify-write), as the other rows increment theirs.
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

/// Runs `iters` rounds of 2 × EACH increments; returns the workers' summed time.
fn rounds<C: Sync>(
    iters: u64,
    make: impl Fn() -> C,
    inc: impl Fn(&C) + Sync,
    total: impl Fn(&C) -> u64,
) -> Duration {
    let mut sum = Duration::ZERO;
    for _ in 0..iters {
        let counter = make();
        let gate = Gate::new();
        let (took, overlapped) = gate.run(2, |_| {
            for _ in 0..EACH {
                inc(&counter);
            }
        });
        assert_eq!(total(&counter), 2 * EACH, "lost increments");
        if !overlapped {
            eprintln!(
                "w6: the two workers did not overlap in this round; figure shows no contention"
            );
        }
        sum += took;
    }
    sum
}

fn w6(c: &mut Criterion) {
    let mut g = c.benchmark_group("w6_locked_counter");
    g.throughput(Throughput::Elements(2 * EACH));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("multiproc_value", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || Value::new(0u64).unwrap(),
                |v| *v.lock().unwrap() += 1,
                |v| v.get().unwrap(),
            )
        })
    });
    g.bench_function("multiproc_lock", |b| {
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
    g.bench_function("multiproc_rlock", |b| {
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
    g.bench_function("raw_futex_mutex", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                FutexCounter::new,
                FutexCounter::increment,
                FutexCounter::get,
            )
        })
    });
    g.bench_function("pthread_process_shared", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || PthreadCounter::new(false),
                PthreadCounter::increment,
                PthreadCounter::get,
            )
        })
    });
    g.bench_function("pthread_process_shared_robust", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || PthreadCounter::new(true),
                PthreadCounter::increment,
                PthreadCounter::get,
            )
        })
    });
    g.bench_function("raw_sync_mutex", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                RawSyncCounter::new,
                RawSyncCounter::increment,
                RawSyncCounter::get,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, w6);
criterion_main!(benches);
