//! `os.fork`, `os.wait` and `os.waitpid(pid, WNOHANG)`: the low level under `Process`
//! (处理子进程退出状态).
//!
//! ```sh
//! cargo run --example wait_waitpid
//! ```
//!
//! The Python lessons (`wait.py`, `waitpid.py`):
//!
//! ```python
//! import os, sys, time
//!
//! pid = os.fork()
//! if pid == 0:
//!     print('child process', os.getpid())
//!     os._exit(2)
//! else:
//!     pid, status = os.wait()              # blocks until a child ends, reaps it
//!     print('pid:', pid, 'status:', status, os.WEXITSTATUS(status))   # status 512, code 2
//!
//! pid = os.fork()
//! if pid == 0:
//!     time.sleep(3)
//!     print('child done')
//!     os._exit(3)
//! else:
//!     while True:
//!         p, status = os.waitpid(pid, os.WNOHANG)   # (0, 0) while the child runs
//!         print(p, status)
//!         if p != 0:
//!             break
//!         time.sleep(1)
//! ```
//!
//! Programs use `Process` (it waits for its own child through a pidfd, never for another's:
//! `os::wait` takes any child); these functions are here to show how it works underneath. `fork` is `unsafe`: both
//! processes return from it, and the child must not go on running the parent's program.

use multiproc::process::os::{self, Fork, WaitFlags};
use std::io::{Read, Write};
use std::time::Duration;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result {
    // 1. fork + wait.
    // SAFETY: this program has started no thread, so no lock can be held by a thread that
    // is missing in the child. The child only prints one line (multiproc holds stdout across
    // the fork) and ends with `_exit`: it never returns into `main`'s code.
    match unsafe { os::fork() }? {
        Fork::Child => {
            println!("child process {}", os::getpid());
            os::_exit(2);
        }
        Fork::Parent(child) => {
            let (pid, status) = os::wait()?; // any child; we have only this one
            let code = status.code().ok_or("the child did not exit")?;
            println!(
                "wait(): pid {pid} (the child: {}), status: {status} (Python: status {}, WEXITSTATUS {code})",
                pid == child,
                code << 8
            );
        }
    }

    // 2. fork + waitpid(pid, WNOHANG). The child blocks reading a pipe until the parent
    // writes to it (Python's lesson sleeps instead), so the first look is certain to find
    // it running.
    let (mut rx, mut tx) = std::io::pipe()?;
    // SAFETY: still no thread. The child reads one byte from a pipe, prints one line and
    // ends with `_exit`, never returning into `main`'s code.
    match unsafe { os::fork() }? {
        Fork::Child => {
            let mut byte = [0u8; 1];
            let code = match rx.read_exact(&mut byte) {
                Ok(()) => {
                    println!("child done");
                    3
                }
                Err(_) => 1,
            };
            os::_exit(code);
        }
        Fork::Parent(child) => {
            drop(rx);
            match os::waitpid(child, WaitFlags::NOHANG)? {
                None => println!("waitpid(pid, WNOHANG): None: still running (Python: (0, 0))"),
                Some(s) => return Err(format!("the child ended early: {s:?}").into()),
            }
            tx.write_all(b"x")?; // let it finish
            let (pid, status) = loop {
                if let Some(done) = os::waitpid(child, WaitFlags::NOHANG)? {
                    break done;
                }
                // Not yet: do something else and look again (Python: time.sleep(1)).
                std::thread::sleep(Duration::from_millis(1));
            };
            println!(
                "waitpid(pid, WNOHANG): pid {pid} (the child: {}), status: {status}",
                pid == child
            );
        }
    }
    Ok(())
}
