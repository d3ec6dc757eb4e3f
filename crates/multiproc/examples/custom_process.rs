//! A custom process type: Python's "subclass `Process` and override `run`" (自定义进程类).
//!
//! ```sh
//! cargo run --example custom_process
//! ```
//!
//! The Python lesson (`myProcess.py`):
//!
//! ```python
//! from multiprocessing import Process
//!
//! class ClockProcess(Process):
//!     def __init__(self, value):
//!         self.value = value          # our own attribute
//!         super().__init__()          # load the parent class's __init__
//!
//!     def run(self):                  # start() runs this in the child
//!         for i in range(3):
//!             print('tick', i + 1, 'every', self.value, 's')
//!             time.sleep(self.value)
//!
//! p = ClockProcess(2)
//! p.start()
//! p.join()
//! ```
//!
//! In Rust the type holds its fields and implements [`Run`]; `Process::from_run` (or a
//! `Builder`, to name it) makes the process. `run` takes `self`: the child owns the fields.

use multiproc::pipe::{pipe_simplex, Sender};
use multiproc::prelude::*;
use multiproc::process::Builder;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `class ClockProcess(Process)`, with its own attribute.
struct ClockProcess {
    value: u32,
}

impl Run for ClockProcess {
    fn run(self) {
        let me = current_process();
        for i in 1..=3 {
            // Python sleeps `value` seconds between ticks; the lesson is the same without.
            println!(
                "tick {i} every {} s, in {} (pid {})",
                self.value,
                me.name(),
                me.pid()
            );
        }
    }
}

/// A custom process that sends its result back through a pipe end it owns.
struct Summer {
    upto: u64,
    result: Sender,
}

impl Run for Summer {
    fn run(mut self) {
        let sum: u64 = (1..=self.upto).sum();
        self.result.send(&sum).expect("send the sum");
    }
}

fn main() -> Result {
    let mut p = Process::from_run(ClockProcess { value: 2 });
    p.start()?; // runs `ClockProcess::run` in the child
    let status = p.join()?;
    println!("{}: {status}", p.name());

    let (mut rx, tx) = pipe_simplex()?;
    let mut s = Builder::new().name("summer").run(Summer {
        upto: 100,
        result: tx,
    });
    s.start()?;
    let sum: u64 = rx.recv()?;
    s.join()?;
    println!("{} sent back the sum of 1..=100: {sum}", s.name());
    Ok(())
}
