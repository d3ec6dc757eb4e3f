//! multiproc-signal's own figures, in one process: how long from `raise` until each kind of
//! handler has seen the signal. Cross-process delivery latency against raw `sigaction`
//! baselines is in the workspace's `benches` package (`signal_latency`).

use criterion::{criterion_group, criterion_main, Criterion};
use multiproc_signal::{block, raise, wait_timeout, Signal, SignalCounter, Signals};
use std::time::Duration;

fn in_process(c: &mut Criterion) {
    let mut g = c.benchmark_group("raise_to_handler");
    let counter = SignalCounter::new(Signal::Usr1).unwrap();
    g.bench_function("signal_counter", |b| {
        b.iter(|| {
            let before = counter.count();
            raise(Signal::Usr1).unwrap();
            assert_eq!(counter.count(), before + 1);
        })
    });
    let mut signals = Signals::new([Signal::Usr2]).unwrap();
    g.bench_function("signals_pending", |b| {
        b.iter(|| {
            raise(Signal::Usr2).unwrap();
            assert_eq!(signals.pending().next(), Some(Signal::Usr2));
        })
    });
    let _blocked = block([Signal::Realtime(1)]).unwrap();
    g.bench_function("wait_timeout_blocked", |b| {
        b.iter(|| {
            raise(Signal::Realtime(1)).unwrap();
            let got = wait_timeout([Signal::Realtime(1)], Duration::from_secs(1)).unwrap();
            assert_eq!(got, Some(Signal::Realtime(1)));
        })
    });
    g.finish();
}

criterion_group!(benches, in_process);
criterion_main!(benches);
