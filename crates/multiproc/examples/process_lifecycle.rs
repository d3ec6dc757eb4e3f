//! The attributes of a `Process` object before `start`, after `start` and after `join`.
//!
//! ```sh
//! cargo run --example process_lifecycle
//! ```
//!
//! The Python lesson (进程对象属性: `p.name`, `p.pid`, `p.is_alive()`, `p.daemon`):
//!
//! ```python
//! from multiprocessing import Process, active_children
//! import os, sys
//!
//! def task():
//!     print('%s is task' % os.getpid())
//!     print('%s is task end' % os.getpid())
//!
//! if __name__ == '__main__':
//!     p = Process(target=task)
//!     print(p.name, p.pid, p.is_alive(), p.daemon, p.exitcode)  # Process-1 None False False None
//!     p.start()
//!     print(p.pid, p.is_alive(), p in active_children())        # 4242 True True
//!     p.join()
//!     print(p.is_alive(), p.exitcode, p in active_children())   # False 0 False
//!
//!     q = Process(target=sys.exit, args=(3,))                   # Process-2
//!     q.start(); q.join()
//!     print(q.name, q.exitcode)                                 # Process-2 3
//!
//!     d = Process(target=forever, name='Tarena')
//!     d.daemon = True             # before start; a daemon is usually not joined:
//!     d.start()                   # it ends with the main process
//!     print('主')
//! ```

use multiproc::process::{active_children, current_process, os, Builder};
use multiproc::{Event, Pid, Process};
use std::fmt::Display;
use std::sync::Arc;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Python's view of an optional attribute: the value, or `None`.
fn py<T: Display>(attr: Option<T>) -> String {
    attr.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

/// Python's `p in active_children()`.
fn in_active_children(p: &Process) -> bool {
    let pid: Option<Pid> = p.pid();
    pid.is_some_and(|pid| active_children().iter().any(|c| c.pid == pid))
}

fn main() -> Result {
    // The child waits for this event before it prints, so that "after start" below is
    // printed while it is certainly alive (Python's lesson uses a sleep instead).
    let go = Arc::new(Event::new()?);
    let child_go = Arc::clone(&go);
    let mut p = Process::new(move || {
        child_go.wait();
        let me = os::getpid();
        println!(
            "{me} is task (in the child, current_process().name = {})",
            current_process().name()
        );
        println!("{me} is task end");
    });
    println!(
        "before start: name={} pid={} is_alive={} daemon={} exitcode={}",
        p.name(),
        py(p.pid()),
        p.is_alive(),
        p.is_daemon(),
        py(p.exitcode())
    );

    p.start()?;
    println!(
        "after start: pid={} is_alive={} in active_children()={}",
        py(p.pid()),
        p.is_alive(),
        in_active_children(&p)
    );
    go.set();

    let status = p.join()?; // Python: p.join(); the exit status is also p.exitcode
    println!(
        "after join: is_alive={} exitcode={} ({status}) in active_children()={}",
        p.is_alive(),
        py(p.exitcode()),
        in_active_children(&p)
    );

    // sys.exit(3) in a child: `os::exit` unwinds to the start of the child's body, then the
    // child exits with that code.
    let mut q = Process::new(|| os::exit(3));
    q.start()?;
    q.join()?;
    println!("{}: exitcode={}", q.name(), py(q.exitcode()));

    // A named daemon. `daemon` is set before start (here: on the builder). It waits for an
    // event nobody sets; we do not join it: when `main` returns, multiproc ends it (SIGTERM),
    // as Python does with daemonic children at exit.
    let never = Arc::new(Event::new()?);
    let mut d = Builder::new()
        .name("Tarena")
        .daemon(true)
        .process(move || never.wait());
    d.start()?;
    println!(
        "daemon: name={} daemon={} is_alive={}",
        d.name(),
        d.is_daemon(),
        d.is_alive()
    );
    println!("主");
    Ok(())
}
