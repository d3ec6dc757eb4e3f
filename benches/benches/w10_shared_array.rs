//! W10: a child writes a 256 MiB shared array, the parent reads it (GB/s), against a
//! single-process memset and read-sum of 256 MiB. Every round uses a fresh mapping, so page
//! faults (and pre-faulting) are part of what is measured, as they are in real use.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use multiproc_benches::Gate;
use multiproc_shm::{Array, SharedMemory};
use std::hint::black_box;
use std::time::{Duration, Instant};

const LEN: usize = 256 << 20;

/// Sums the bytes as 8-byte words (wrapping): memory-bound, as a read should be.
fn sum(bytes: &[u8]) -> u64 {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .fold(0u64, u64::wrapping_add)
}

/// What [`sum`] gives for `LEN` bytes of `b`.
fn expected(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8]).wrapping_mul((LEN / 8) as u64)
}

fn w10(c: &mut Criterion) {
    let mut g = c.benchmark_group("w10_shared_array_256MiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(4));

    g.bench_function("write/local_memset", |b| {
        b.iter_custom(|iters| {
            let mut buf = vec![0u8; LEN];
            buf.fill(1); // fault in once: the local limit is memory speed
            let start = Instant::now();
            for i in 0..iters {
                buf.fill(i as u8);
                black_box(&buf);
            }
            start.elapsed()
        })
    });
    g.bench_function("read/local_sum", |b| {
        b.iter_custom(|iters| {
            let buf = vec![3u8; LEN];
            black_box(sum(&buf));
            let start = Instant::now();
            for _ in 0..iters {
                black_box(sum(black_box(&buf)));
            }
            start.elapsed()
        })
    });
    g.bench_function("read/local_memcpy", |b| {
        b.iter_custom(|iters| {
            let src = vec![3u8; LEN];
            let mut dst = vec![1u8; LEN];
            let start = Instant::now();
            for _ in 0..iters {
                dst.copy_from_slice(black_box(&src));
                black_box(&dst);
            }
            start.elapsed()
        })
    });
    g.bench_function("write/array_in_child", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let a = Array::<u8>::zeroed(LEN).unwrap();
                let (took, _) = Gate::new().run(1, |_| {
                    a.prefault();
                    a.lock().unwrap().fill(7);
                });
                total += took;
            }
            total
        })
    });
    g.bench_function("read/array_in_parent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let a = Array::<u8>::zeroed(LEN).unwrap();
                Gate::new().run(1, |_| {
                    a.prefault();
                    a.lock().unwrap().fill(7);
                });
                let start = Instant::now();
                a.prefault();
                let s = sum(&a.lock().unwrap());
                total += start.elapsed();
                assert_eq!(s, expected(7));
            }
            total
        })
    });
    g.bench_function("write/shared_memory_fill_in_child", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let seg = SharedMemory::create(LEN).unwrap();
                let (took, _) = Gate::new().run(1, |_| seg.fill(0, LEN, 7).unwrap());
                total += took;
            }
            total
        })
    });
    g.bench_function("read/shared_memory_slice_in_parent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let seg = SharedMemory::create(LEN).unwrap();
                Gate::new().run(1, |_| seg.fill(0, LEN, 7).unwrap());
                // The writer has exited: reading in place is sound.
                let start = Instant::now();
                let s = multiproc_benches::sys::sum_quiescent_segment(&seg);
                total += start.elapsed();
                assert_eq!(s, expected(7));
            }
            total
        })
    });
    g.bench_function("read/shared_memory_copy_in_parent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut buf = vec![0u8; LEN];
            buf.fill(1);
            for _ in 0..iters {
                let seg = SharedMemory::create(LEN).unwrap();
                Gate::new().run(1, |_| seg.fill(0, LEN, 7).unwrap());
                let start = Instant::now();
                seg.read(0, &mut buf).unwrap();
                total += start.elapsed();
                assert_eq!(buf[LEN - 1], 7);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, w10);
criterion_main!(benches);
