//! A forkserver that dies: its running children can still be signalled and are reported as
//! `ForkserverDied` once they end (never before) — unless they end normally, reporting their
//! exit code themselves; the next start gets a new server. (Alone in
//! its test binary: it kills this binary's forkserver.)

use multiproc_internal::testing::watchdog;
use multiproc_pipe::Fd;
use multiproc_process::{os, Builder, Pid, ProcessError, Signal, StartMethod};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Reports its parent (the server), then waits for a byte.
fn report_then_wait(fd: Fd) {
    let mut s = UnixStream::from(fd.into_inner());
    writeln!(s, "{}", os::getppid()).unwrap();
    let mut b = [0u8; 1];
    let _ = s.read(&mut b);
}

fn double(n: u32) -> u32 {
    n * 2
}

#[test]
fn children_outlive_a_dead_forkserver_and_a_new_one_starts() {
    let _w = watchdog(Duration::from_secs(60));
    let start = || {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let mut p = Builder::new()
            .start_method(StartMethod::Forkserver)
            .process_fn(report_then_wait, Fd::new(theirs));
        p.start().unwrap();
        let mut line = String::new();
        let mut b = [0u8; 1];
        while !line.ends_with('\n') {
            assert_eq!(ours.read(&mut b).unwrap(), 1);
            line.push(b[0] as char);
        }
        let server: i32 = line.trim().parse().unwrap();
        (p, ours, server)
    };
    let (mut p, _ours, server) = start();
    let (mut q, mut q_line, q_server) = start();
    assert_eq!(server, q_server);
    // The server is this test process's own child.
    multiproc_signal::kill(Pid::from_raw(server), Signal::Kill).unwrap();
    // Its status lost with the server, the child still runs and is still ours to signal.
    assert_eq!(p.join_timeout(Duration::from_millis(200)).unwrap(), None);
    assert!(p.is_alive());
    p.terminate().unwrap();
    assert!(matches!(p.join(), Err(ProcessError::ForkserverDied)));
    // One that ends normally reports its exit code itself, server or not.
    assert!(q.is_alive());
    q_line.write_all(b"x").unwrap();
    assert_eq!(q.join().unwrap().exitcode(), 0);
    // A new server.
    let h = Builder::new()
        .start_method(StartMethod::Forkserver)
        .spawn_fn(double, 21)
        .unwrap();
    assert_eq!(h.join().unwrap(), 42);
}
