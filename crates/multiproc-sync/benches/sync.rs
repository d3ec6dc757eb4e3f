//! multiproc-sync's own figures: uncontended `Event`, `Barrier`, `Lock` and `RLock`
//! operations, and an `Event` ping-pong round trip between two processes (W7).
//!
//! W6 (2 processes × 1,000,000 locked increments, pinned one per core, with the raw futex,
//! pthread and raw_sync peers in the same group) and the W7 peers are in the workspace's
//! `benches` package.

use criterion::{criterion_group, criterion_main, Criterion};
use multiproc_internal::testing::fork_child;
use multiproc_sync::{Barrier, Event, Lock, RLock};
use std::hint::black_box;
use std::time::Instant;

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

criterion_group!(benches, uncontended, ping_pong);
criterion_main!(benches);
