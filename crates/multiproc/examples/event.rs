//! An event: workers wait until the main process sets it (Event 事件).
//!
//! ```sh
//! cargo run --example event
//! ```
//!
//! The Python lesson:
//!
//! ```python
//! from multiprocessing import Process, Event
//! import time
//!
//! def worker(e, i):
//!     print('worker %d waits for the event' % i)
//!     e.wait()                            # blocks until the event is set
//!     print('worker %d: the event is set, going on' % i)
//!
//! e = Event()
//! ps = [Process(target=worker, args=(e, i)) for i in range(1, 4)]
//! for p in ps: p.start()
//! time.sleep(1)                           # (here: a barrier, see below)
//! print('main: is_set() =', e.is_set())   # False
//! print('main: e.set()')
//! e.set()
//! for p in ps: p.join()
//! print('main: is_set() =', e.is_set())   # True
//! e.clear()
//! print('after clear: is_set() =', e.is_set(), ', wait(0.01) =', e.wait(0.01))   # False False
//! ```
//!
//! Python's lesson sleeps so that the workers print before the event is set; a `Barrier`
//! makes that certain: the main process passes it once every worker has printed.

use multiproc::prelude::*;
use std::sync::Arc;
use std::time::Duration;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const WORKERS: u32 = 3;

fn main() -> Result {
    let e = Arc::new(Event::new()?);
    let printed = Arc::new(Barrier::new(WORKERS + 1)?);
    let mut workers = Vec::new();
    for i in 1..=WORKERS {
        let (e, printed) = (Arc::clone(&e), Arc::clone(&printed));
        let mut p = Process::new(move || {
            println!("worker {i} waits for the event");
            printed.wait().expect("barrier");
            e.wait();
            println!("worker {i}: the event is set, going on");
        });
        p.start()?;
        workers.push(p);
    }
    printed.wait()?; // every worker has printed
    println!("main: is_set() = {}", e.is_set());
    println!("main: e.set()");
    e.set();
    for p in &mut workers {
        let status = p.join()?;
        if !status.success() {
            return Err(format!("{} {status}", p.name()).into());
        }
    }
    println!("main: is_set() = {}", e.is_set());
    e.clear();
    println!(
        "after clear: is_set() = {}, wait_timeout(10 ms) = {}",
        e.is_set(),
        e.wait_timeout(Duration::from_millis(10))
    );
    Ok(())
}
