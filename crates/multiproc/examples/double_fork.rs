//! Zombies, and the double fork that leaves none (如何避免僵尸进程: 创建二级子进程).
//!
//! ```sh
//! cargo run --example double_fork
//! ```
//!
//! A child that has ended stays a zombie (state `Z`: its pid and exit status kept for the
//! parent) until its parent waits for it. A parent that cannot wait for its child (it has
//! its own work to do) forks twice: the child forks a grandchild and exits at once; the
//! parent waits for the child, which takes no time; the grandchild, an orphan, is adopted by
//! init (or the nearest subreaper), which waits for it when it ends. The parent is left
//! with no child at all: nothing of ours can become a zombie.
//!
//! The Python lesson (`fork.py`):
//!
//! ```python
//! import os
//!
//! def f1(): print('first thing')      # the parent's work
//! def f2(): print('second thing')     # the grandchild's work
//!
//! pid = os.fork()
//! if pid == 0:
//!     p = os.fork()                   # the child creates the grandchild ...
//!     if p == 0:
//!         f2()
//!     else:
//!         os._exit(0)                 # ... and exits at once
//! else:
//!     os.wait()                       # reaps the child at once
//!     f1()
//! ```
//!
//! `os::double_fork(f)` is all of that: it runs `f` in the grandchild and returns its pid
//! once the intermediate child has been reaped. (Python orders the two prints with sleeps;
//! here the grandchild waits for a byte from the parent.)

use multiproc::process::os::{self, WaitFlags};
use multiproc::{Pid, Process};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The state letter of a process in `/proc/<pid>/stat` (`R`, `S`, `Z`, …); `None` once the
/// process is gone.
fn state(pid: Pid) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the state follows the last ')' (comm may contain anything).
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn main() -> Result {
    // 1. The problem: a child that ended and was not waited for is a zombie.
    let mut p = Process::new(|| {});
    p.start()?;
    let pid = p.pid().ok_or("no pid after start")?;
    // Look (without waiting for it: that would reap it) until it has ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(pid) != Some('Z') {
        if Instant::now() > deadline {
            return Err("the child never became a zombie".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("a child that ended, not yet waited for: state Z (a zombie)");
    p.join()?; // the wait reaps it
    println!("after join: gone={}", state(pid).is_none());

    // 2. The double fork.
    let (mut go_rx, mut go_tx) = std::io::pipe()?;
    let (mut report_rx, mut report_tx) = std::io::pipe()?;
    let grandchild = os::double_fork(move || {
        let mut byte = [0u8; 1];
        if go_rx.read_exact(&mut byte).is_ok() {
            println!("second thing (the grandchild, pid {})", os::getpid());
            // Who our parent is now that the intermediate child is gone.
            let _ = report_tx.write_all(&os::getppid().as_raw().to_le_bytes());
        }
    })?;
    // The intermediate child has been reaped: this process has no child left.
    println!("first thing (the parent, pid {})", os::getpid());
    go_tx.write_all(b"g")?;
    let mut ppid = [0u8; 4];
    report_rx.read_exact(&mut ppid)?;
    let ppid = Pid::from_raw(i32::from_le_bytes(ppid));
    println!(
        "the grandchild {grandchild} was adopted: its parent is not us: {}",
        ppid != os::getpid()
    );
    // Wait for the grandchild's end (its copy of the pipe closes), then look for children.
    let mut rest = Vec::new();
    report_rx.read_to_end(&mut rest)?;
    match os::waitpid(Pid::from_raw(-1), WaitFlags::NOHANG) {
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
            println!("waitpid(-1, WNOHANG): no child processes: no zombie of ours");
        }
        other => return Err(format!("expected no child at all, got {other:?}").into()),
    }
    Ok(())
}
