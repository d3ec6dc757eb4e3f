//! A semaphore lets at most N processes in at once (信号量).
//!
//! ```sh
//! cargo run --example semaphore_limit
//! ```
//!
//! The Python lesson:
//!
//! ```python
//! from multiprocessing import Process, Semaphore
//! import os, time
//!
//! sem = Semaphore(3)                      # initial value 3
//!
//! def fun():
//!     print('%d wants in' % os.getpid())
//!     sem.acquire()                       # value - 1; blocks at 0
//!     print('%d is in' % os.getpid())
//!     time.sleep(3)
//!     print('%d is done' % os.getpid())
//!     sem.release()                       # value + 1
//!
//! for i in range(5):
//!     Process(target=fun).start()
//! ... print(sem.get_value())
//! ```
//!
//! Instead of sleeping, the workers that got in wait for an event, which the parent sets
//! once it has seen three of them inside and the value at 0. A shared counter records how
//! many were inside, and the most ever seen at once.

use multiproc::prelude::*;
use std::sync::Arc;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const WORKERS: u32 = 5;
const LIMIT: u32 = 3;

fn main() -> Result {
    let sem = Arc::new(Semaphore::new(LIMIT)?);
    let entered = Arc::new(Semaphore::new(0)?); // a worker releases it once inside
    let go = Arc::new(Event::new()?);
    let stats = Arc::new(Value::new([0u32; 2])?); // [inside now, most inside at once]

    let mut workers = Vec::new();
    for i in 1..=WORKERS {
        let (sem, entered, go, stats) = (
            Arc::clone(&sem),
            Arc::clone(&entered),
            Arc::clone(&go),
            Arc::clone(&stats),
        );
        let mut p = Process::new(move || {
            println!("worker {i} wants in");
            let unit = sem.access(); // sem.acquire(); released when `unit` is dropped
            stats
                .with_lock(|[inside, most]| {
                    *inside += 1;
                    *most = (*most).max(*inside);
                })
                .expect("lock");
            println!("worker {i} is in");
            entered.release().expect("release");
            go.wait();
            stats.with_lock(|[inside, _]| *inside -= 1).expect("lock");
            println!("worker {i} is done");
            drop(unit); // sem.release()
        });
        p.start()?;
        workers.push(p);
    }

    for _ in 0..LIMIT {
        entered.acquire(); // one more worker is inside
    }
    let [inside, _] = stats.get()?;
    println!(
        "parent: {inside} workers inside, sem.get_value() = {}: the others block in acquire()",
        sem.value()
    );
    go.set();

    for p in &mut workers {
        let status = p.join()?;
        if !status.success() {
            return Err(format!("{} {status}", p.name()).into());
        }
    }
    let [inside, most] = stats.get()?;
    println!("most workers inside at once: {most} (the limit: {LIMIT}); inside now: {inside}");
    println!("sem.get_value() = {}", sem.value());
    Ok(())
}
