//! Signal delivery latency across processes: the parent sends a signal to a child (through a
//! pidfd) and spins until the child's handler has been observed to run (a counter in shared
//! memory moves): a round trip, kill → handler → shared write → parent sees it. multiproc's
//! safe handlers against a raw `sigaction` handler (the floor: it writes the counter inside
//! signal context) and the classic raw sigaction + self-pipe.

use criterion::{criterion_group, criterion_main, Criterion};
use multiproc_benches::sys::{install_raw_counter, install_self_pipe, SharedRegion};
use multiproc_internal::testing::fork_child;
use multiproc_signal::{spawn_handler, Pid, PidFd, Signal, Signals};
use std::io::Read;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Forks a child that runs `child_body` (which never returns: the child is killed at the end);
/// measures round trips. The region is leaked (4 KiB per bench) so handlers may hold it.
fn round_trips(c: &mut Criterion, name: &str, child_body: fn(&'static SharedRegion)) {
    let region: &'static SharedRegion = Box::leak(Box::new(SharedRegion::new(4096)));
    let seen = region.atomic_u64(0);
    let ready = region.atomic_u64(8);
    let child = fork_child(|| child_body(region));
    let start = Instant::now();
    while ready.load(Ordering::Acquire) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "child never got ready"
        );
        std::thread::yield_now();
    }
    let fd = PidFd::open(Pid::from_raw(child.pid())).unwrap();
    let mut sent = 0u64;
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                sent += 1;
                fd.send(Signal::Usr1).unwrap();
                while seen.load(Ordering::Acquire) < sent {
                    std::hint::spin_loop();
                }
            }
            start.elapsed()
        })
    });
    child.kill().unwrap();
    drop(child);
}

fn ready(region: &'static SharedRegion) {
    region.atomic_u64(8).store(1, Ordering::Release);
}

fn latency(c: &mut Criterion) {
    round_trips(c, "signal_latency/raw_sigaction_in_handler", |region| {
        install_raw_counter(libc::SIGUSR1, region.atomic_u64(0));
        ready(region);
        loop {
            std::thread::park();
        }
    });
    round_trips(c, "signal_latency/raw_sigaction_self_pipe", |region| {
        let mut pipe = install_self_pipe(libc::SIGUSR1);
        ready(region);
        let mut buf = [0u8; 64];
        loop {
            let n = pipe.read(&mut buf).unwrap();
            region.atomic_u64(0).fetch_add(n as u64, Ordering::Release);
        }
    });
    round_trips(c, "signal_latency/multiproc_signals_iterator", |region| {
        let mut signals = Signals::new([Signal::Usr1]).unwrap();
        ready(region);
        for _ in signals.forever() {
            region.atomic_u64(0).fetch_add(1, Ordering::Release);
        }
    });
    round_trips(c, "signal_latency/multiproc_spawn_handler", |region| {
        let _handler = spawn_handler([Signal::Usr1], move |_| {
            region.atomic_u64(0).fetch_add(1, Ordering::Release);
        })
        .unwrap();
        ready(region);
        loop {
            std::thread::park();
        }
    });
}

criterion_group!(benches, latency);
criterion_main!(benches);
