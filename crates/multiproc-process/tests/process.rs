//! Process, spawn and the process-wide functions, across real processes.

use multiproc_internal::testing::{
    fork_child, process_state, until_asleep, wait_until, watchdog, ChildExit,
};
use multiproc_process::{
    active_children, cpu_count, current_process, os, parent_process, spawn, Builder, ExitStatus,
    JoinError, Pid, Process, ProcessError, Run, Signal,
};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// A gate a child waits at: `wait` blocks until the other end writes a byte or closes.
fn gate() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

fn wait_at(gate: &mut UnixStream) {
    let mut b = [0u8; 1];
    let _ = gate.read(&mut b);
}

/// Reads one line a child reported, byte by byte (never to end of file: other tests'
/// children may hold a copy of the writing end).
fn read_line(s: &mut UnixStream) -> String {
    let mut line = String::new();
    let mut byte = [0u8; 1];
    while !line.ends_with('\n') {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "child report cut short");
        line.push(byte[0] as char);
    }
    line
}

fn open(gate: &mut UnixStream) {
    gate.write_all(b"x").expect("open the gate");
}

/// A daemonic child: if its test fails before releasing it, the exit hook of the test binary
/// terminates it instead of waiting for it.
fn daemon_process(f: impl FnOnce() + Send + 'static) -> Process {
    Builder::new().daemon(true).process(f)
}

fn is_active(pid: Pid) -> bool {
    active_children().iter().any(|c| c.pid == pid)
}

/// Whether `pid` is a child of this process (running or a zombie).
fn is_our_child(pid: Pid) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_owned));
    ppid.as_deref() == Some(os::getpid().to_string().as_str())
}

/// Whether `pid` is a zombie child of this process (a leak).
fn is_our_zombie(pid: Pid) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return false;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields.first() == Some(&"Z") && fields.get(1) == Some(&os::getpid().to_string().as_str())
}

#[test]
fn lifecycle_before_start_after_start_after_join() {
    let _w = watchdog(LIMIT);
    let (mut ours, mut theirs) = gate();
    let (mut report_rx, mut report_tx) = gate();
    let mut p = Builder::new().name("lifecycle").process(move || {
        let me = current_process();
        let parent = parent_process().expect("a started child has a parent");
        let line = format!(
            "{} {} {} {}\n",
            me.name(),
            me.pid(),
            parent.pid(),
            parent.name()
        );
        report_tx.write_all(line.as_bytes()).unwrap();
        wait_at(&mut theirs);
    });
    // Before start.
    assert!(!p.is_alive());
    assert_eq!(p.pid(), None);
    assert_eq!(p.exitcode(), None);
    assert_eq!(p.exit_status(), None);
    assert_eq!(p.name(), "lifecycle");
    assert!(!p.is_daemon());

    p.start().unwrap();
    // After start.
    let pid = p.pid().expect("a started process has a pid");
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert!(is_active(pid));
    let line = read_line(&mut report_rx);
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts[0], "lifecycle");
    assert_eq!(parts[1], pid.to_string());
    assert_eq!(parts[2], os::getpid().to_string());
    assert_eq!(parts[3], current_process().name());

    open(&mut ours);
    let status = p.join().unwrap();
    // After join.
    assert_eq!(status, ExitStatus::Exited(0));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(p.pid(), Some(pid));
    assert!(!is_active(pid));
    assert!(!is_our_zombie(pid));
}

#[test]
fn exit_codes_follow_python() {
    let _w = watchdog(LIMIT);
    let mut ok = Process::new(|| {});
    let mut panics = Process::new(|| panic!("deliberate panic in a child"));
    let mut exits = Process::new(|| os::exit(255));
    let mut one = Process::new(|| os::exit(1));
    for p in [&mut ok, &mut panics, &mut exits, &mut one] {
        p.start().unwrap();
    }
    assert_eq!(ok.join().unwrap().exitcode(), 0);
    assert_eq!(panics.join().unwrap().exitcode(), 1);
    assert_eq!(exits.join().unwrap(), ExitStatus::Exited(255));
    assert_eq!(one.join().unwrap().code(), Some(1));
}

#[test]
fn exit_unwinds_and_runs_destructors() {
    let _w = watchdog(LIMIT);
    struct Says(UnixStream);
    impl Drop for Says {
        fn drop(&mut self) {
            let _ = self.0.write_all(b"dropped");
        }
    }
    let (mut rx, tx) = gate();
    let mut p = Process::new(move || {
        let _guard = Says(tx);
        fn deep() -> ! {
            os::exit(42)
        }
        deep();
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Exited(42));
    // Read exactly what is expected: EOF could wait for other tests' children, which
    // inherit a copy of `tx` when they fork meanwhile.
    let mut got = [0u8; 7];
    rx.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"dropped");
}

#[test]
fn terminate_and_kill_report_the_signal() {
    let _w = watchdog(LIMIT);
    let (_keep_a, mut a) = gate();
    let (_keep_b, mut b) = gate();
    let mut t = daemon_process(move || wait_at(&mut a));
    let mut k = daemon_process(move || wait_at(&mut b));
    t.start().unwrap();
    k.start().unwrap();
    t.terminate().unwrap();
    k.kill().unwrap();
    let st = t.join().unwrap();
    assert_eq!(st.signal(), Some(Signal::Term));
    assert_eq!(st.exitcode(), -15);
    assert_eq!(t.exitcode(), Some(-15));
    assert_eq!(k.join().unwrap().exitcode(), -9);
    // Signalling a reaped child does nothing (its pid may be someone else's now).
    t.terminate().unwrap();
    k.kill().unwrap();
}

#[test]
fn join_timeout_returns_on_time() {
    let _w = watchdog(LIMIT);
    let (_keep, mut theirs) = gate();
    let mut p = daemon_process(move || wait_at(&mut theirs));
    p.start().unwrap();
    let asked = Duration::from_millis(200);
    let t0 = Instant::now();
    assert_eq!(p.join_timeout(asked).unwrap(), None);
    let took = t0.elapsed();
    assert!(took >= asked, "returned after {took:?}, before {asked:?}");
    assert!(took < asked + Duration::from_millis(500), "took {took:?}");
    assert!(p.is_alive());
    p.kill().unwrap();
    let st = p.join_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(ExitStatus::signal), Some(Signal::Kill));
}

#[test]
fn misuse_is_a_typed_error() {
    let _w = watchdog(LIMIT);
    let mut p = Process::new(|| {});
    assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
    assert!(matches!(
        p.join_timeout(Duration::ZERO),
        Err(ProcessError::NotStarted)
    ));
    assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
    assert!(matches!(p.kill(), Err(ProcessError::NotStarted)));
    assert!(matches!(p.sentinel(), Err(ProcessError::NotStarted)));
    p.start().unwrap();
    assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
    assert!(p.join().unwrap().success());
    assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
}

#[test]
fn spawn_returns_values() {
    let _w = watchdog(LIMIT);
    let a = spawn(|| 6 * 7).unwrap();
    let b = spawn(|| format!("from {}", current_process().name())).unwrap();
    let c = spawn(|| (0..1 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    let b_name = b.name().to_owned();
    assert_eq!(a.join().unwrap(), 42);
    assert_eq!(b.join().unwrap(), format!("from {b_name}"));
    let big = c.join().unwrap();
    assert_eq!(big.len(), 1 << 20);
    assert!(big.iter().enumerate().all(|(i, &v)| v == (i % 251) as u8));
}

#[test]
fn spawn_reports_panics_exits_and_signals() {
    let _w = watchdog(LIMIT);
    let panicked = spawn(|| -> u32 { panic!("bad input: {}", 7) }).unwrap();
    match panicked.join() {
        Err(JoinError::Panicked(msg)) => assert_eq!(msg, "bad input: 7"),
        other => panic!("expected a panic, got {other:?}"),
    }
    let exited = spawn(|| -> u32 { os::exit(5) }).unwrap();
    assert!(matches!(
        exited.join(),
        Err(JoinError::NoValue(ExitStatus::Exited(5)))
    ));
    let (_keep, mut theirs) = gate();
    let killed = Builder::new()
        .daemon(true)
        .spawn(move || -> u32 {
            wait_at(&mut theirs);
            1
        })
        .unwrap();
    killed.kill().unwrap();
    match killed.join() {
        Err(JoinError::NoValue(st)) => assert_eq!(st.signal(), Some(Signal::Kill)),
        other => panic!("expected a kill, got {other:?}"),
    }
}

#[test]
fn spawn_join_timeout_then_value_once() {
    let _w = watchdog(LIMIT);
    let (mut ours, mut theirs) = gate();
    let mut h = Builder::new()
        .daemon(true)
        .spawn(move || {
            wait_at(&mut theirs);
            "done".to_owned()
        })
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(h.join_timeout(Duration::from_millis(100)).unwrap(), None);
    assert!(t0.elapsed() >= Duration::from_millis(100));
    assert!(!h.is_finished());
    open(&mut ours);
    assert_eq!(
        h.join_timeout(Duration::from_secs(30)).unwrap().as_deref(),
        Some("done")
    );
    assert!(h.is_finished());
    assert_eq!(h.exit_status(), Some(ExitStatus::Exited(0)));
    assert!(matches!(
        h.join_timeout(Duration::ZERO),
        Err(JoinError::AlreadyJoined)
    ));
}

/// A value whose encoding always fails.
struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

#[test]
fn spawn_value_that_cannot_be_encoded_is_an_error() {
    let _w = watchdog(LIMIT);
    let h = spawn(|| Unencodable).unwrap();
    match h.join() {
        // postcard keeps no custom message: only that serialization failed.
        Err(JoinError::Encode(msg)) => assert!(msg.contains("Serializ"), "{msg}"),
        other => panic!("expected an encode error, got {:?}", other.err()),
    }
}

struct Greeter {
    to: UnixStream,
    word: &'static str,
}

impl Run for Greeter {
    fn run(mut self) {
        let name = current_process().name().to_owned();
        write!(self.to, "{} from {name}", self.word).unwrap();
    }
}

#[test]
fn custom_process_type_runs() {
    let _w = watchdog(LIMIT);
    let (mut rx, tx) = gate();
    let mut p = Builder::new().name("greeter").run(Greeter {
        to: tx,
        word: "hello",
    });
    p.start().unwrap();
    assert!(p.join().unwrap().success());
    let mut got = [0u8; 18];
    rx.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello from greeter");
}

#[test]
fn default_names_count_up_and_nest() {
    let _w = watchdog(LIMIT);
    let a = Process::new(|| {});
    let b = Process::new(|| {});
    let number = |p: &Process| -> u32 {
        let n = p.name().strip_prefix("Process-").expect("default name");
        n.parse().expect("a top-level child has one number")
    };
    // Other tests of this binary may make processes in between.
    assert!(number(&b) > number(&a));
    // A child's children are numbered under the child's identity.
    let h = spawn(|| {
        let inner = spawn(|| current_process().name().to_owned()).unwrap();
        (current_process().name().to_owned(), inner.join().unwrap())
    })
    .unwrap();
    let (outer, inner) = h.join().unwrap();
    assert!(outer.starts_with("Process-"), "{outer}");
    assert_eq!(inner, format!("{outer}:1"));
    assert_eq!(current_process().name(), "MainProcess");
    assert!(parent_process().is_none());
}

#[test]
fn dropped_handle_is_reaped_later() {
    let _w = watchdog(LIMIT);
    let (mut ours, mut theirs) = gate();
    let mut p = Builder::new()
        .name("dropped")
        .process(move || wait_at(&mut theirs));
    p.start().unwrap();
    let pid = p.pid().unwrap();
    drop(p);
    let listed = active_children();
    let entry = listed.iter().find(|c| c.pid == pid).expect("still listed");
    assert_eq!(entry.name, "dropped");
    open(&mut ours);
    // Reaped by the reaper thread, with no call of ours: its /proc entry goes away (or, if
    // the pid was reused at once, no longer names a child of ours).
    wait_until("the dropped child to be reaped", || !is_our_child(pid));
    assert!(!is_active(pid));
}

#[test]
fn sentinel_becomes_readable_at_exit() {
    let _w = watchdog(LIMIT);
    let (mut ours, mut theirs) = gate();
    let mut p = daemon_process(move || wait_at(&mut theirs));
    p.start().unwrap();
    let readable = |p: &Process| {
        multiproc_internal::testing::fd_readable(p.sentinel().unwrap(), Duration::ZERO)
    };
    assert!(!readable(&p));
    open(&mut ours);
    assert!(multiproc_internal::testing::fd_readable(
        p.sentinel().unwrap(),
        Duration::from_secs(30)
    ));
    assert!(p.join().unwrap().success());
}

#[test]
fn as_fd_is_never_ready_before_start_and_the_pidfd_after() {
    use std::os::fd::{AsFd, AsRawFd};
    let _w = watchdog(LIMIT);
    let (mut ours, mut theirs) = gate();
    let mut p = daemon_process(move || wait_at(&mut theirs));
    // Unstarted: an fd that does not become readable (it has not ended).
    assert!(!multiproc_internal::testing::fd_readable(
        p.as_fd(),
        Duration::from_millis(50)
    ));
    p.start().unwrap();
    assert_eq!(p.as_fd().as_raw_fd(), p.sentinel().unwrap().as_raw_fd());
    assert!(!multiproc_internal::testing::fd_readable(
        p.as_fd(),
        Duration::ZERO
    ));
    open(&mut ours);
    assert!(multiproc_internal::testing::fd_readable(
        p.as_fd(),
        Duration::from_secs(30)
    ));
    assert!(p.join().unwrap().success());
}

#[test]
fn cpu_count_follows_the_affinity_mask() {
    let _w = watchdog(LIMIT);
    let n = cpu_count();
    assert!(n >= 1);
    assert!(
        n <= std::thread::available_parallelism()
            .map_or(n, usize::from)
            .max(n)
    );
    // In a sandbox narrowed to one CPU, as `taskset -c` would.
    let sandbox = fork_child(|| {
        multiproc_internal::testing::pin_to_first_allowed_cpu().unwrap();
        assert_eq!(cpu_count(), 1);
        // A child inherits the mask.
        assert_eq!(spawn(cpu_count).unwrap().join().unwrap(), 1);
    });
    sandbox.assert_success();
}

#[test]
fn ignored_sigchld_gives_reaped_not_a_hang() {
    let _w = watchdog(LIMIT);
    // In a sandbox process: ignoring SIGCHLD is process-wide.
    let sandbox = fork_child(|| {
        multiproc_signal::ignore_children().unwrap();
        let mut p = Process::new(|| {});
        p.start().unwrap();
        assert!(matches!(p.join(), Err(ProcessError::Reaped)));
        assert!(!p.is_alive());
        // The status is lost, the value is not.
        let h = spawn(|| 1u8).unwrap();
        assert_eq!(h.join().unwrap(), 1);
        let h = spawn(|| -> u8 { os::exit(3) }).unwrap();
        assert!(matches!(
            h.join(),
            Err(JoinError::Process(ProcessError::Reaped))
        ));
    });
    sandbox.assert_success();
}

#[test]
fn low_level_fork_and_waitpid_nohang() {
    let _w = watchdog(LIMIT);
    let (mut ours, mut theirs) = gate();
    // SAFETY: the child only reads from a socket and calls `_exit`.
    match unsafe { os::fork() }.unwrap() {
        os::Fork::Child => {
            wait_at(&mut theirs);
            os::_exit(7)
        }
        os::Fork::Parent(pid) => {
            assert_eq!(os::waitpid(pid, os::WaitFlags::NOHANG).unwrap(), None);
            open(&mut ours);
            let (got, st) = os::waitpid(pid, os::WaitFlags::NONE).unwrap().unwrap();
            assert_eq!(got, pid);
            assert_eq!(st, ExitStatus::Exited(7));
            assert!(
                os::waitpid(pid, os::WaitFlags::NOHANG).is_err(),
                "reaped twice"
            );
        }
    }
}

#[test]
fn low_level_wait_takes_any_child() {
    let _w = watchdog(LIMIT);
    // wait() takes any child: run it in a sandbox whose only child is ours.
    let sandbox = fork_child(|| {
        // SAFETY: the child calls `_exit` at once.
        let pid = match unsafe { os::fork() }.unwrap() {
            os::Fork::Child => os::_exit(3),
            os::Fork::Parent(pid) => pid,
        };
        let (got, st) = os::wait().unwrap();
        assert_eq!(got, pid);
        assert_eq!(st.code(), Some(3));
        assert!(os::wait().is_err(), "no children left");
    });
    sandbox.assert_success();
}

#[test]
fn double_fork_leaves_no_zombie() {
    let _w = watchdog(LIMIT);
    let sandbox = fork_child(|| {
        let (mut rx, mut tx) = gate();
        let pid = os::double_fork(move || {
            write!(tx, "{}", os::getppid()).unwrap();
        })
        .unwrap();
        let mut adopted_by = String::new();
        rx.read_to_string(&mut adopted_by).unwrap();
        assert_ne!(pid, os::getpid());
        // The grandchild is not ours, and the middle child was reaped: no children left.
        let err = os::waitpid(Pid::from_raw(-1), os::WaitFlags::NOHANG).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
        assert_ne!(adopted_by, os::getpid().to_string());
    });
    sandbox.assert_success();
}

#[test]
fn exiting_process_terminates_daemons_and_joins_the_rest() {
    let _w = watchdog(LIMIT);
    let (mut release_n, mut n_gate) = gate();
    let (mut report_rx, mut report_tx) = gate();
    let mut outer = Process::new(move || {
        let (_keep, mut d_gate) = gate();
        let mut d = Builder::new()
            .daemon(true)
            .process(move || wait_at(&mut d_gate));
        let mut n = Process::new(move || wait_at(&mut n_gate));
        d.start().unwrap();
        n.start().unwrap();
        writeln!(report_tx, "{} {}", d.pid().unwrap(), n.pid().unwrap()).unwrap();
        // Returning ends the body: the daemon gets SIGTERM, `n` is waited for.
    });
    outer.start().unwrap();
    let line = read_line(&mut report_rx);
    let pids: Vec<i32> = line
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let (d, n) = (pids[0], pids[1]);
    wait_until("the daemon to be terminated", || {
        !matches!(process_state(d), Some('S' | 'R'))
    });
    // The outer process is waiting for `n`.
    until_asleep(outer.pid().unwrap().as_raw());
    assert!(outer.is_alive());
    assert!(matches!(process_state(n), Some('S' | 'R')));
    open(&mut release_n);
    assert_eq!(outer.join().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn status_display() {
    assert_eq!(ExitStatus::Exited(3).to_string(), "exited with code 3");
    let s = ExitStatus::Signaled {
        signal: Signal::Kill,
        core_dumped: false,
    };
    assert_eq!(s.to_string(), "killed by SIGKILL");
    assert!(!s.success());
    assert_eq!(s.code(), None);
}

#[test]
fn a_closure_holding_a_finished_handle_does_not_deadlock_the_start() {
    let _w = watchdog(LIMIT);
    let a = spawn(|| 1u8).unwrap();
    wait_until("the first child to finish", || a.is_finished());
    // The closure is dropped unrun in the parent; dropping `a` there uses the registry.
    let b = spawn(move || {
        let _keep = &a;
        2u8
    })
    .unwrap();
    assert_eq!(b.join().unwrap(), 2);
}

#[test]
fn stdout_held_while_asking_for_the_process_name_does_not_deadlock_starts() {
    let _w = watchdog(LIMIT);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let logger = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // As a logger printing `%(processName)s` does: stdout first, then the name.
                let out = std::io::stdout().lock();
                std::hint::black_box(current_process().name().len());
                drop(out);
            }
        })
    };
    for _ in 0..300 {
        let mut p = Process::new(|| {});
        p.start().unwrap();
        assert!(p.join().unwrap().success());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    logger.join().unwrap();
}

#[test]
fn exit_of_the_main_program_terminates_daemons_and_joins_the_rest() {
    let _w = watchdog(LIMIT);
    let (mut release_n, mut n_gate) = gate();
    let (mut report_rx, mut report_tx) = gate();
    // A sandbox that leaves through `std::process::exit`, as a `main` that returns does: the
    // crate's atexit hook runs there.
    let mut sandbox = fork_child(move || {
        let (_keep, mut d_gate) = gate();
        let mut d = daemon_process(move || wait_at(&mut d_gate));
        let mut n = Process::new(move || wait_at(&mut n_gate));
        d.start().unwrap();
        n.start().unwrap();
        writeln!(report_tx, "{} {}", d.pid().unwrap(), n.pid().unwrap()).unwrap();
        std::process::exit(0);
    });
    let line = read_line(&mut report_rx);
    let pids: Vec<i32> = line
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let (d, n) = (pids[0], pids[1]);
    wait_until("the daemon to be terminated", || {
        !matches!(process_state(d), Some('S' | 'R'))
    });
    until_asleep(sandbox.pid());
    assert_eq!(
        sandbox.wait_timeout(Duration::ZERO),
        None,
        "exit did not wait"
    );
    assert!(matches!(process_state(n), Some('S' | 'R')));
    open(&mut release_n);
    assert_eq!(sandbox.wait(), ChildExit::Exited(0));
}

#[test]
fn children_see_their_parents_current_name() {
    let _w = watchdog(LIMIT);
    // In a child, so that renaming it leaves this test process alone.
    let mut p = Builder::new().name("before").process(|| {
        let expect_parent = |name: &'static str| {
            let mut g = Process::new(move || {
                assert_eq!(parent_process().unwrap().name(), name);
            });
            g.start().unwrap();
            assert!(
                g.join().unwrap().success(),
                "a grandchild saw another name than {name}"
            );
        };
        expect_parent("before");
        // The second start sees the new name (the description children get is not stale).
        current_process().set_name("after");
        expect_parent("after");
    });
    p.start().unwrap();
    assert!(p.join().unwrap().success());
}
