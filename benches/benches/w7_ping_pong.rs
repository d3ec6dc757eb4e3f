//! W7: ping-pong round trip between two processes — the parent signals, the child answers, the
//! parent waits for the answer. multiproc's `Semaphore` and `Event` (spin, then futex) against raw_sync's
//! `Event` (pthread mutex + condvar) and spinning `BusyEvent`, an eventfd pair and a raw futex
//! pair that only sleep (what one kernel wake-up across cores costs), and a turn word handed
//! back and forth under multiproc-sync's `Lock` + `Condition`. Python's figures come from
//! `benches/python/w7_ping_pong.py`.

use criterion::{criterion_group, criterion_main, Criterion};
use multiproc_benches::sys::{eventfd, RawSyncEvent, SharedRegion};
use multiproc_internal::futex;
use multiproc_internal::testing::fork_child;
use multiproc_semaphore::Semaphore;
use multiproc_shm::Atomic;
use multiproc_sync::{Condition, Event, Lock};
use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One direction of the ping-pong.
trait Channel: Sync {
    fn signal(&self);
    fn wait(&self);
}

impl Channel for Semaphore {
    fn signal(&self) {
        self.release().unwrap();
    }
    fn wait(&self) {
        self.acquire();
    }
}

impl Channel for RawSyncEvent {
    fn signal(&self) {
        self.set();
    }
    fn wait(&self) {
        RawSyncEvent::wait(self);
    }
}

impl Channel for Event {
    fn signal(&self) {
        self.set();
    }
    fn wait(&self) {
        Event::wait(self);
        self.clear();
    }
}

struct EventFd(std::fs::File);

impl Channel for EventFd {
    fn signal(&self) {
        (&self.0).write_all(&1u64.to_ne_bytes()).unwrap();
    }
    fn wait(&self) {
        let mut b = [0u8; 8];
        (&self.0).read_exact(&mut b).unwrap();
    }
}

/// A futex word that only sleeps: no spinning.
struct FutexSleep(SharedRegion);

impl Channel for FutexSleep {
    fn signal(&self) {
        let w = self.0.atomic_u32(0);
        w.store(1, Ordering::Release);
        futex::wake(w, 1);
    }
    fn wait(&self) {
        let w = self.0.atomic_u32(0);
        while w.swap(0, Ordering::Acquire) == 0 {
            futex::wait(w, 0, None);
        }
    }
}

fn ping_pong<C: Channel>(c: &mut Criterion, name: &str, ping: C, pong: C) {
    let child = fork_child(|| loop {
        ping.wait();
        pong.signal();
    });
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                ping.signal();
                pong.wait();
            }
            start.elapsed()
        })
    });
    child.kill().unwrap();
}

/// One turn word (0: the parent's turn, 1: the child's) under one `Lock`; each side waits on
/// one `Condition` until the turn is its own, then hands it over and notifies.
struct Turns {
    lock: Lock,
    cond: Condition,
    turn: Atomic<u32>,
}

impl Turns {
    /// Waits for `mine`, then hands the turn to the other side (the lock orders the relaxed
    /// accesses to the word).
    fn take_and_pass(&self, mine: u32, theirs: u32) {
        let held = self.lock.lock().unwrap();
        let held = self
            .cond
            .wait_while(held, |_| self.turn.load(Ordering::Relaxed) != mine)
            .unwrap();
        self.turn.store(theirs, Ordering::Relaxed);
        self.cond.notify_one();
        drop(held);
    }
}

fn condition_ping_pong(c: &mut Criterion, name: &str) {
    let t = Turns {
        lock: Lock::new().unwrap(),
        cond: Condition::new().unwrap(),
        turn: Atomic::new(0).unwrap(),
    };
    let child = fork_child(|| loop {
        t.take_and_pass(1, 0);
    });
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                // A round trip: the parent passes the turn, the child passes it back.
                t.take_and_pass(0, 1);
            }
            // Back to the state a round starts in: the turn is the parent's again.
            let held = t.lock.lock().unwrap();
            let held = t
                .cond
                .wait_while(held, |_| t.turn.load(Ordering::Relaxed) != 0)
                .unwrap();
            drop(held);
            start.elapsed()
        })
    });
    child.kill().unwrap();
}

fn w7(c: &mut Criterion) {
    ping_pong(
        c,
        "w7_ping_pong/multiproc_semaphore",
        Semaphore::new(0).unwrap(),
        Semaphore::new(0).unwrap(),
    );
    ping_pong(
        c,
        "w7_ping_pong/multiproc_event",
        Event::new().unwrap(),
        Event::new().unwrap(),
    );
    condition_ping_pong(c, "w7_ping_pong/multiproc_lock_condition");
    ping_pong(
        c,
        "w7_ping_pong/raw_sync_busy_event",
        RawSyncEvent::new(true),
        RawSyncEvent::new(true),
    );
    ping_pong(
        c,
        "w7_ping_pong/raw_sync_event",
        RawSyncEvent::new(false),
        RawSyncEvent::new(false),
    );
    ping_pong(
        c,
        "w7_ping_pong/eventfd_sleep_only",
        EventFd(eventfd()),
        EventFd(eventfd()),
    );
    ping_pong(
        c,
        "w7_ping_pong/raw_futex_sleep_only",
        FutexSleep(SharedRegion::new(4096)),
        FutexSleep(SharedRegion::new(4096)),
    );
}

criterion_group!(benches, w7);
criterion_main!(benches);
