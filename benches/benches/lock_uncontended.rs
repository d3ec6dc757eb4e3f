//! Uncontended lock + unlock in one process: multiproc's robust locks (shm's `Value`,
//! multiproc-sync's `Lock` and `RLock`) against a bare compare-exchange + swap (the floor of
//! any futex lock), a raw futex mutex, glibc's process-shared mutexes (plain and robust) and
//! raw_sync.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use multiproc_benches::sys::{FutexCounter, PthreadCounter, RawSyncCounter};
use multiproc_shm::Value;
use multiproc_sync::{Lock, RLock};
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("lock_uncontended");
    g.throughput(Throughput::Elements(1));
    let floor = AtomicU32::new(0);
    g.bench_function("floor_cas_swap", |b| {
        b.iter(|| {
            let w = black_box(&floor);
            let _ = w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed);
            w.swap(0, Ordering::Release)
        })
    });
    let v = Value::new(0u64).unwrap();
    g.bench_function("multiproc_value", |b| b.iter(|| drop(black_box(&v).lock())));
    let l = Lock::new().unwrap();
    g.bench_function("multiproc_sync_lock", |b| {
        b.iter(|| drop(black_box(&l).lock()))
    });
    let rl = RLock::new().unwrap();
    g.bench_function("multiproc_sync_rlock", |b| {
        b.iter(|| drop(black_box(&rl).lock()))
    });
    let f = FutexCounter::new();
    g.bench_function("raw_futex_mutex", |b| {
        b.iter(|| black_box(&f).lock_unlock())
    });
    let p = PthreadCounter::new(false);
    g.bench_function("pthread_process_shared", |b| {
        b.iter(|| black_box(&p).lock_unlock())
    });
    let r = PthreadCounter::new(true);
    g.bench_function("pthread_process_shared_robust", |b| {
        b.iter(|| black_box(&r).lock_unlock())
    });
    let s = RawSyncCounter::new();
    g.bench_function("raw_sync_mutex", |b| b.iter(|| black_box(&s).lock_unlock()));
    g.finish();
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
