//! multiproc-shm's own figures: the uncontended cost of its operations (target: lock + unlock
//! under 25 ns), against the floor of any lock (one compare-exchange and one swap on a word),
//! and the cost of race-tolerant copies against `memcpy`. Cross-process workloads (W6, W10)
//! are in the workspace's `benches` package.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use multiproc_shm::{Atomic, RawArray, RawValue, Value};
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended");
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
    g.bench_function("value_lock_unlock", |b| {
        b.iter(|| drop(black_box(&v).lock()))
    });
    g.bench_function("value_lock_increment", |b| {
        b.iter(|| *black_box(&v).lock().unwrap() += 1)
    });
    g.bench_function("value_get", |b| b.iter(|| black_box(&v).get()));
    let a = Atomic::new(0u64).unwrap();
    g.bench_function("atomic_fetch_add", |b| {
        b.iter(|| black_box(&a).fetch_add(1, Ordering::AcqRel))
    });
    let r = RawValue::new(0u64).unwrap();
    g.bench_function("raw_value_get", |b| b.iter(|| black_box(&r).get()));
    g.finish();
}

fn copies(c: &mut Criterion) {
    const LEN: usize = 1 << 20;
    let mut g = c.benchmark_group("copy_1MiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    let src = vec![5u8; LEN];
    let mut dst = vec![0u8; LEN];
    g.bench_function("local_memcpy", |b| {
        b.iter(|| dst.copy_from_slice(black_box(&src)))
    });
    let raw = RawArray::<u8>::zeroed(LEN).unwrap();
    g.bench_function("raw_array_write", |b| {
        b.iter(|| raw.write(0, black_box(&src)).unwrap())
    });
    g.bench_function("raw_array_read", |b| {
        b.iter(|| raw.read(0, black_box(&mut dst)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, uncontended, copies);
criterion_main!(benches);
