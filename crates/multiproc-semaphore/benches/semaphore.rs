//! multiproc-semaphore's own figures: uncontended acquire + release, and a ping-pong round trip
//! between two processes (W7; peers — raw futex, eventfd, raw_sync, Python — are in the
//! workspace's `benches` package).

use criterion::{criterion_group, criterion_main, Criterion};
use multiproc_internal::testing::fork_child;
use multiproc_semaphore::Semaphore;
use std::hint::black_box;
use std::time::Instant;

fn uncontended(c: &mut Criterion) {
    let s = Semaphore::new(1).unwrap();
    c.bench_function("semaphore/uncontended_acquire_release", |b| {
        b.iter(|| {
            black_box(&s).acquire();
            black_box(&s).release().unwrap();
        })
    });
}

fn ping_pong(c: &mut Criterion) {
    let ping = Semaphore::new(0).unwrap();
    let pong = Semaphore::new(0).unwrap();
    let child = fork_child(|| loop {
        ping.acquire();
        pong.release().unwrap();
    });
    c.bench_function("semaphore/ping_pong_round_trip", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                ping.release().unwrap();
                pong.acquire();
            }
            start.elapsed()
        })
    });
    child.kill().unwrap();
}

criterion_group!(benches, uncontended, ping_pong);
criterion_main!(benches);
