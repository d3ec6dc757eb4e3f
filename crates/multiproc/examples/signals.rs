//! Signals: `kill`, `alarm`, `pause`, handlers, and ignoring SIGCHLD (信号通信).
//!
//! ```sh
//! cargo run --example signals
//! ```
//!
//! The Python lesson:
//!
//! ```python
//! import os, signal
//!
//! print(signal.alarm(5))        # 0: no alarm was set
//! print(signal.alarm(1))        # 5: one clock per process, the second call replaces the first
//! signal.pause()                # wait for a signal: SIGALRM's default action ends the process
//!
//! def handler(sig, frame):      # a handler for SIGINT (Ctrl-C)
//!     print('got', signal.Signals(sig).name, ': not ending (就不结束)')
//! signal.signal(signal.SIGINT, handler)
//!
//! os.kill(pid, signal.SIGUSR1)  # send a signal to another process
//!
//! signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # the system reaps the children: no zombies
//! ```
//!
//! Python runs a handler between two bytecodes of the main thread. Here a handler is ordinary
//! Rust too: `Signals` hands signals over as values, `spawn_handler` runs a closure for each
//! in a thread of its own. Everything is ordered by events and joins, never by sleeps; the
//! only wait is the one second of `alarm(1)`, spent while the rest runs.

use multiproc::prelude::*;
use multiproc::signal::{self, kill};
use std::sync::{mpsc, Arc};
use std::time::Duration;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result {
    // 1. alarm + pause, in a child: SIGALRM's default action ends it after a second.
    let printed = Arc::new(Event::new()?);
    let child_printed = Arc::clone(&printed);
    let mut clock = Process::new(move || {
        let first = signal::alarm(5);
        let second = signal::alarm(1);
        println!("child: alarm(5) -> {first}");
        println!("child: alarm(1) -> {second}: one clock per process, the second call replaced the first");
        println!("child: pause() until a signal comes");
        child_printed.set();
        signal::pause(); // no handler for SIGALRM: its default action ends the process
        println!("child: pause() returned");
    });
    clock.start()?;
    printed.wait();

    // 2. kill: a child with a handler for SIGUSR1; SIGTERM keeps its default action.
    let (ready, handled) = (Arc::new(Event::new()?), Arc::new(Event::new()?));
    let (child_ready, child_handled) = (Arc::clone(&ready), Arc::clone(&handled));
    let mut target = Process::new(move || {
        let mut signals = Signals::new([Signal::Usr1]).expect("handler");
        child_ready.set();
        for sig in signals.forever() {
            println!("child: handler got {sig}");
            child_handled.set();
        }
    });
    target.start()?;
    let pid = target.pid().ok_or("no pid after start")?;
    ready.wait(); // its handler is in place
    println!("parent: kill(child, SIGUSR1)");
    kill(pid, Signal::Usr1)?;
    handled.wait();
    println!("parent: kill(child, SIGTERM)");
    kill(pid, Signal::Term)?;
    let status = target.join()?;
    println!("child: {status} (exitcode {})", status.exitcode());

    // 3. A handler in this process: Ctrl-C (SIGINT) no longer ends it.
    let (tx, rx) = mpsc::channel();
    let handler = signal::spawn_handler([Signal::Int], move |sig| {
        println!("handler: got {sig}: not ending (就不结束)");
        let _ = tx.send(());
    })?;
    signal::raise(Signal::Int)?; // as if Ctrl-C was pressed
    rx.recv_timeout(Duration::from_secs(10))?;
    handler.stop();
    println!("main: still running after SIGINT");

    // The alarm child, by now killed by its SIGALRM.
    let status = clock.join()?;
    println!("alarm child: {status} (exitcode {})", status.exitcode());

    // 4. signal(SIGCHLD, SIG_IGN): the kernel reaps children itself. No zombie, and no exit
    // status either: joining says the child was reaped elsewhere.
    signal::ignore_children()?;
    let mut quick = Process::new(|| {});
    quick.start()?;
    let pid = quick.pid().ok_or("no pid after start")?;
    match quick.join() {
        Err(e @ ProcessError::Reaped) => println!("SIGCHLD ignored: join -> {e}"),
        other => return Err(format!("expected ProcessError::Reaped, got {other:?}").into()),
    }
    // "pid (comm) S ...": the state letter follows the last ')'; no file: the pid is gone.
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(')')?.1.trim_start().starts_with('Z')))
        .unwrap_or(false);
    println!("zombie left: {zombie}");
    signal::set_default(Signal::Chld)?; // back to normal: exit statuses are kept again
    Ok(())
}
