//! A lock, taken with a guard (Python's `with lock:`): processes print and count under it
//! (Lock 锁).
//!
//! ```sh
//! cargo run --example lock_guard
//! ```
//!
//! The Python lesson:
//!
//! ```python
//! from multiprocessing import Process, Lock, RawValue
//! import sys
//!
//! def writer1():
//!     lock.acquire()                      # lock; blocks while another holds it
//!     for i in range(5):
//!         sys.stdout.write('writer1 %d: I want to write to the terminal first\n' % i)
//!     lock.release()                      # unlock
//!
//! def writer2():
//!     with lock:                          # locked here, unlocked at the end of the block
//!         for i in range(5):
//!             sys.stdout.write('writer2 %d: I want to write to the terminal first\n' % i)
//!
//! lock = Lock()
//! w1 = Process(target=writer1); w2 = Process(target=writer2)
//! w1.start(); w2.start(); w1.join(); w2.join()   # each writer's lines stay together
//!
//! counter = RawValue('Q', 0)
//! def count():
//!     for i in range(1000):
//!         with lock:
//!             counter.value += 1
//! ... 4 processes ...
//! print('counter =', counter.value)      # 4000: no increment lost
//! ```
//!
//! In Rust, `lock()` returns a guard: the lock is held while the guard lives, and released
//! when it is dropped (at the end of its block, or by `drop(guard)`: Python's `release()`).
//! Which writer goes first is up to the scheduler; the lines of each stay together.

use multiproc::prelude::*;
use std::sync::Arc;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const COUNTERS: u64 = 4;
const EACH: u64 = 1000;

fn join_all(processes: &mut [Process]) -> Result {
    for p in processes {
        let status = p.join()?;
        if !status.success() {
            return Err(format!("{} {status}", p.name()).into());
        }
    }
    Ok(())
}

fn main() -> Result {
    let lock = Arc::new(Lock::new()?);

    let l1 = Arc::clone(&lock);
    let writer1 = Process::new(move || {
        let guard = l1.lock().expect("lock"); // lock.acquire()
        for i in 0..5 {
            println!("writer1 {i}: I want to write to the terminal first");
        }
        drop(guard); // lock.release()
    });
    let l2 = Arc::clone(&lock);
    let writer2 = Process::new(move || {
        let _guard = l2.lock().expect("lock"); // with lock:
        for i in 0..5 {
            println!("writer2 {i}: I want to write to the terminal first");
        }
    }); // the guard is dropped here: unlocked
    let mut writers = [writer1, writer2];
    for w in &mut writers {
        w.start()?;
    }
    join_all(&mut writers)?;

    // Counting: `RawValue` has no lock of its own (Python's RawValue); ours guards it.
    let counter = Arc::new(RawValue::new(0u64)?);
    let mut counters = Vec::new();
    for _ in 0..COUNTERS {
        let (lock, counter) = (Arc::clone(&lock), Arc::clone(&counter));
        let mut p = Process::new(move || {
            for _ in 0..EACH {
                let _guard = lock.lock().expect("lock");
                counter.set(counter.get() + 1); // counter.value += 1
            }
        });
        p.start()?;
        counters.push(p);
    }
    join_all(&mut counters)?;
    println!(
        "counter = {} ({COUNTERS} processes x {EACH} increments under the lock)",
        counter.get()
    );
    Ok(())
}
