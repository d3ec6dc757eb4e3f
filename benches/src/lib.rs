//! Comparisons across multiproc crates and other libraries, between real processes. The
//! benches are in `benches/`; what they share (the peers written for them, pinning, the
//! start gate, running Python's scripts) is here, and so is the [`report`] that runs them all
//! and writes the comparison (`cargo run --release -p multiproc-benches --bin report`). Every
//! `unsafe` lives in [`sys`].

pub mod python;
pub mod report;
pub mod sys;

use multiproc_internal::clock::monotonic_now;
use multiproc_internal::testing::{fork_child, ForkChild};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use sys::SharedRegion;

/// A start gate and per-worker timestamps in shared memory, so that workers start together
/// and the measured time is theirs, not process start-up.
#[derive(Debug)]
pub struct Gate {
    region: SharedRegion,
}

const READY: usize = 0;
const GO: usize = 8;
const TIMES: usize = 64;

impl Gate {
    /// A gate for up to 8 workers.
    pub fn new() -> Gate {
        Gate {
            region: SharedRegion::new(4096),
        }
    }

    fn ready(&self) -> &AtomicU32 {
        self.region.atomic_u32(READY)
    }

    fn go(&self) -> &AtomicU32 {
        self.region.atomic_u32(GO)
    }

    fn time(&self, worker: usize, end: bool) -> &AtomicU64 {
        self.region
            .atomic_u64(TIMES + worker * 16 + if end { 8 } else { 0 })
    }

    /// Forks `n` workers, each pinned to CPU `i % cpus`, waiting at the gate, then running
    /// `work(i)`; opens the gate once all are ready; returns the span from the first start to
    /// the last end, and whether all workers' runs overlapped (a contention bench whose
    /// workers ran one after the other measures nothing).
    pub fn run(&self, n: usize, work: impl Fn(usize) + Sync) -> (Duration, bool) {
        self.ready().store(0, Ordering::SeqCst);
        self.go().store(0, Ordering::SeqCst);
        let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
        let work = &work;
        let kids: Vec<ForkChild> = (0..n)
            .map(|i| {
                fork_child(move || {
                    sys::pin_to_cpu(i % cpus);
                    self.ready().fetch_add(1, Ordering::AcqRel);
                    while self.go().load(Ordering::Acquire) == 0 {
                        std::hint::spin_loop();
                    }
                    self.time(i, false)
                        .store(monotonic_now().as_nanos() as u64, Ordering::Release);
                    work(i);
                    self.time(i, true)
                        .store(monotonic_now().as_nanos() as u64, Ordering::Release);
                })
            })
            .collect();
        while self.ready().load(Ordering::Acquire) < n as u32 {
            std::thread::yield_now();
        }
        self.go().store(1, Ordering::Release);
        for k in kids {
            k.assert_success();
        }
        let starts: Vec<u64> = (0..n)
            .map(|i| self.time(i, false).load(Ordering::Acquire))
            .collect();
        let ends: Vec<u64> = (0..n)
            .map(|i| self.time(i, true).load(Ordering::Acquire))
            .collect();
        let first = *starts.iter().min().unwrap();
        let last = *ends.iter().max().unwrap();
        let overlap = starts.iter().max().unwrap() < ends.iter().min().unwrap();
        (Duration::from_nanos(last - first), overlap)
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}
