//! Daemonic children die with their parent, also when it is SIGKILLed; the others outlive it.
//!
//! Each test runs in a sandbox process that is a child subreaper, so the orphans are adopted
//! by the sandbox (not init) and it can wait for them by pid.

use multiproc_internal::testing::{become_subreaper, fork_child, watchdog};
use multiproc_process::{os, Builder, ExitStatus, Pid, Process, Signal, StartMethod};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn read_line(s: &mut UnixStream) -> String {
    let mut line = String::new();
    let mut byte = [0u8; 1];
    while !line.ends_with('\n') {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "report cut short");
        line.push(byte[0] as char);
    }
    line
}

/// A child body that answers each byte it reads with the same byte, until it reads `q`.
/// (Not until EOF: every process forked after the socket pair was made holds a copy of the
/// other end.)
fn echo(mut s: UnixStream) {
    let mut b = [0u8; 1];
    while let Ok(1) = s.read(&mut b) {
        if b[0] == b'q' || s.write_all(&b).is_err() {
            break;
        }
    }
}

fn ping(s: &mut UnixStream) {
    s.write_all(b"p").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).expect("the child answers");
}

/// Waits (blocking, by pid) for an adopted orphan and says how long it took.
fn reap_orphan(pid: i32) -> (ExitStatus, Duration) {
    let t0 = Instant::now();
    let (_, st) = os::waitpid(Pid::from_raw(pid), os::WaitFlags::NONE)
        .unwrap()
        .unwrap();
    (st, t0.elapsed())
}

#[test]
fn daemon_dies_with_sigkilled_parent_and_non_daemon_survives() {
    let _w = watchdog(LIMIT);
    let sandbox = fork_child(|| {
        become_subreaper().unwrap();
        let (mut d_ours, d_theirs) = UnixStream::pair().unwrap();
        let (mut n_ours, n_theirs) = UnixStream::pair().unwrap();
        let (mut rx, mut tx) = UnixStream::pair().unwrap();
        let mut parent = Process::new(move || {
            let mut d = Builder::new().daemon(true).process(move || echo(d_theirs));
            let mut n = Process::new(move || echo(n_theirs));
            d.start().unwrap();
            n.start().unwrap();
            writeln!(tx, "{} {}", d.pid().unwrap(), n.pid().unwrap()).unwrap();
            // Stay until killed.
            let mut b = [0u8; 1];
            let _ = tx.read(&mut b);
        });
        parent.start().unwrap();
        let line = read_line(&mut rx);
        let pids: Vec<i32> = line
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        ping(&mut d_ours);
        ping(&mut n_ours);

        parent.kill().unwrap();
        assert_eq!(parent.join().unwrap().signal(), Some(Signal::Kill));
        let (st, took) = reap_orphan(pids[0]);
        assert_eq!(st.signal(), Some(Signal::Kill), "the daemon: {st}");
        assert!(
            took < Duration::from_secs(1),
            "the daemon died after {took:?}"
        );
        // The non-daemonic child outlived its parent and still answers.
        ping(&mut n_ours);
        n_ours.write_all(b"q").unwrap();
        let (st, _) = reap_orphan(pids[1]);
        assert_eq!(st, ExitStatus::Exited(0));
    });
    sandbox.assert_success();
}

#[test]
fn daemon_started_from_a_thread_outlives_the_thread_not_the_parent() {
    let _w = watchdog(LIMIT);
    let sandbox = fork_child(|| {
        become_subreaper().unwrap();
        let (mut d_ours, d_theirs) = UnixStream::pair().unwrap();
        let (mut rx, mut tx) = UnixStream::pair().unwrap();
        let mut parent = Process::new(move || {
            // The daemon is started from a thread that ends at once: PR_SET_PDEATHSIG alone
            // would kill it then.
            let d = std::thread::spawn(move || {
                let mut d = Builder::new().daemon(true).process(move || echo(d_theirs));
                d.start().unwrap();
                d
            })
            .join()
            .unwrap();
            writeln!(tx, "{}", d.pid().unwrap()).unwrap();
            let mut b = [0u8; 1];
            let _ = tx.read(&mut b);
            drop(d);
        });
        parent.start().unwrap();
        let d: i32 = read_line(&mut rx).trim().parse().unwrap();
        // The thread that forked it has ended; the daemon still answers.
        ping(&mut d_ours);
        ping(&mut d_ours);
        parent.kill().unwrap();
        parent.join().unwrap();
        let (st, took) = reap_orphan(d);
        assert_eq!(st.signal(), Some(Signal::Kill), "the daemon: {st}");
        assert!(
            took < Duration::from_secs(1),
            "the daemon died after {took:?}"
        );
    });
    sandbox.assert_success();
}

fn echo_fn(s: UnixStream) {
    echo(s)
}

#[test]
fn spawned_daemon_dies_with_sigkilled_parent() {
    fn_daemon_dies_with_sigkilled_parent(StartMethod::Spawn);
}

#[test]
fn forkserver_daemon_dies_with_sigkilled_client() {
    fn_daemon_dies_with_sigkilled_parent(StartMethod::Forkserver);
}

/// A daemonic child started by `method` (so running a `fn`) dies with its parent.
fn fn_daemon_dies_with_sigkilled_parent(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let sandbox = fork_child(|| {
        become_subreaper().unwrap();
        let (mut d_ours, d_theirs) = UnixStream::pair().unwrap();
        let (mut rx, mut tx) = UnixStream::pair().unwrap();
        let mut parent = Process::new(move || {
            let d_theirs = multiproc_pipe::Fd::new(d_theirs);
            let mut d = Builder::new().daemon(true).start_method(method).process_fn(
                |fd: multiproc_pipe::Fd| echo_fn(UnixStream::from(fd.into_inner())),
                d_theirs,
            );
            d.start().unwrap();
            writeln!(tx, "{}", d.pid().unwrap()).unwrap();
            let mut b = [0u8; 1];
            let _ = tx.read(&mut b);
        });
        parent.start().unwrap();
        let d: i32 = read_line(&mut rx).trim().parse().unwrap();
        ping(&mut d_ours);
        // Under the forkserver, the daemon is the server's child, not its client's: it may be
        // reaped by the server or, once the server is gone, adopted by this sandbox. Watch it
        // by pidfd.
        let d_fd = multiproc_signal::PidFd::open(Pid::from_raw(d)).unwrap();
        parent.kill().unwrap();
        parent.join().unwrap();
        let t0 = Instant::now();
        assert!(
            multiproc_internal::testing::fd_readable(d_fd.as_fd(), Duration::from_secs(10)),
            "the daemon outlived its parent"
        );
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "the daemon died after {took:?}"
        );
        // Whoever adopted it reaps it; this sandbox may be the one.
        let _ = os::waitpid(Pid::from_raw(d), os::WaitFlags::NOHANG);
    });
    sandbox.assert_success();
}
