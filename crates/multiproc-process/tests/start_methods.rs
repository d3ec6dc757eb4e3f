//! The spawn and forkserver start methods: `fn` items with serialized arguments, run by this
//! very test binary started afresh (spawn), or by forks of a server that is this binary started
//! afresh (forkserver); the entry hook catches them before libtest's `main`. Every case runs
//! under both methods (modules `spawn` and `forkserver`).

use multiproc_internal::testing::watchdog;
use multiproc_mqueue::Queue;
use multiproc_pipe::{pipe, Connection};
use multiproc_process::{
    current_process, os, parent_process, Builder, ExitStatus, JoinError, Process, ProcessError,
    Signal, StartMethod,
};
use multiproc_shm::Value;
use multiproc_sync::Lock;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// Runs each case under both methods, as `spawn::<case>` and `forkserver::<case>`.
macro_rules! under_both_methods {
    ($($case:ident),* $(,)?) => {
        mod spawn {
            $(#[test]
            fn $case() {
                super::$case(super::StartMethod::Spawn)
            })*
        }
        mod forkserver {
            $(#[test]
            fn $case() {
                super::$case(super::StartMethod::Forkserver)
            })*
        }
    };
}

under_both_methods!(
    fn_returns_its_value,
    fn_panics_and_exits_are_reported,
    child_is_terminated_through_its_pidfd,
    closures_need_the_fork_method,
    queue_lock_value_and_connection_reach_the_child,
    busy_threads_do_not_hang_starts,
    exit_statuses_are_its_own,
);

fn with(method: StartMethod) -> Builder {
    Builder::new().start_method(method)
}

fn square(n: u64) -> u64 {
    n * n
}

fn whoami((): ()) -> (String, i32, Option<i32>, Option<String>, usize) {
    let me = current_process();
    let parent = parent_process();
    (
        me.name().to_owned(),
        me.pid().as_raw(),
        parent.as_ref().map(|p| p.pid().as_raw()),
        parent.map(|p| p.name().to_owned()),
        // A fresh program: one thread, nothing of the parent's memory.
        std::fs::read_dir("/proc/self/task").unwrap().count(),
    )
}

fn fn_returns_its_value(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let h = with(method).spawn_fn(square, 12).unwrap();
    assert_eq!(h.join().unwrap(), 144);
    let h = with(method).name("asker").spawn_fn(whoami, ()).unwrap();
    let pid = h.pid().as_raw();
    let (name, child_pid, parent_pid, parent_name, threads) = h.join().unwrap();
    assert_eq!(name, "asker");
    assert_eq!(child_pid, pid);
    assert_eq!(parent_pid, Some(os::getpid().as_raw()));
    assert_eq!(parent_name.as_deref(), Some("MainProcess"));
    assert_eq!(threads, 1);
}

fn boom(msg: String) -> u8 {
    panic!("{msg}")
}

fn leave(code: i32) {
    os::exit(code)
}

fn fn_panics_and_exits_are_reported(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let h = with(method)
        .spawn_fn(boom, "spawned boom".to_owned())
        .unwrap();
    match h.join() {
        Err(JoinError::Panicked(m)) => assert_eq!(m, "spawned boom"),
        other => panic!("expected a panic, got {other:?}"),
    }
    let mut p = with(method).process_fn(leave, 7);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Exited(7));
    assert_eq!(p.start_method(), method);
}

/// Starts a child of its own (`fork`) that exits with 7, then ends normally itself.
fn parent_of_seven((): ()) {
    let mut p = Process::new(|| os::exit(7));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Exited(7));
}

fn quit_at_once(code: i32) {
    os::_exit(code)
}

/// A forkserver's worker reports its own exit code before it ends; a child of its own never
/// reports for it, and `_exit` (no report) leaves it to the server.
fn exit_statuses_are_its_own(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let mut p = with(method).process_fn(parent_of_seven, ());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Exited(0));
    let mut p = with(method).process_fn(quit_at_once, 5);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Exited(5));
    assert!(!p.is_alive());
}

fn wait_forever((): ()) {
    loop {
        std::thread::park();
    }
}

fn child_is_terminated_through_its_pidfd(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let mut p = with(method).process_fn(wait_forever, ());
    p.start().unwrap();
    assert_eq!(p.join_timeout(Duration::from_millis(50)).unwrap(), None);
    p.terminate().unwrap();
    assert_eq!(p.join().unwrap().signal(), Some(Signal::Term));
}

fn closures_need_the_fork_method(method: StartMethod) {
    let mut p = with(method).process(|| {});
    assert!(matches!(p.start(), Err(ProcessError::ClosureNeedsFork(m)) if m == method));
    assert!(matches!(
        with(method).spawn(|| 1u8),
        Err(ProcessError::ClosureNeedsFork(m)) if m == method
    ));
    // A fn target runs under fork too.
    let mut p = Process::from_fn(leave, 3);
    assert_eq!(p.start_method(), StartMethod::Fork);
    p.start().unwrap();
    assert_eq!(p.join().unwrap().code(), Some(3));
}

#[derive(Serialize, Deserialize)]
struct Shared {
    queue: Queue<String>,
    value: Value<u64>,
    lock: Lock,
    conn: Connection,
}

fn use_shared(mut s: Shared) -> u64 {
    let job: String = s.conn.recv().unwrap();
    for _ in 0..1000 {
        let _g = s.lock.lock().unwrap();
        s.value.with_lock(|n| *n += 1).unwrap();
    }
    s.queue.put(format!("{job} done")).unwrap();
    s.conn.send(&"bye").unwrap();
    s.value.get().unwrap()
}

/// Another handle to the same shared object, made by sending it through a pipe.
fn second_handle<T: Serialize + serde::de::DeserializeOwned>(x: &T) -> T {
    let (mut a, mut b) = pipe().unwrap();
    a.send(x).unwrap();
    b.recv::<T>().unwrap()
}

fn queue_lock_value_and_connection_reach_the_child(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let queue = Queue::<String>::new(0).unwrap();
    let value = Value::new(0u64).unwrap();
    let lock = Lock::new().unwrap();
    let (mut ours, theirs) = pipe().unwrap();
    // The handles travel as fds (the connection end moves to the child). The parent keeps
    // its own handles to the same value and lock.
    let shared = Shared {
        queue: queue.clone(),
        value: second_handle(&value),
        lock: second_handle(&lock),
        conn: theirs,
    };
    let h = with(method).spawn_fn(use_shared, shared).unwrap();
    ours.send(&"job").unwrap();
    for _ in 0..1000 {
        let _g = lock.lock().unwrap();
        value.with_lock(|n| *n += 1).unwrap();
    }
    assert_eq!(queue.get().unwrap(), "job done");
    assert_eq!(ours.recv::<String>().unwrap(), "bye");
    let seen = h.join().unwrap();
    assert!((1000..=2000).contains(&seen), "{seen}");
    assert_eq!(value.get().unwrap(), 2000);
}

fn count_to(n: u32) -> u32 {
    (0..n).sum()
}

fn busy_threads_do_not_hang_starts(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let busy: Vec<_> = (0..8)
        .map(|i| {
            let stop = stop.clone();
            let held = held.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    println!("busy thread {i} printing");
                    let mut g = held.lock().unwrap();
                    g.push(i);
                    g.truncate(64);
                    drop(g);
                    std::hint::black_box(vec![i; 4096]);
                    // Busy, but leaving the two cores to the children now and then.
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    for n in 0..300u32 {
        let h = with(method).spawn_fn(count_to, n % 50).unwrap();
        assert_eq!(h.join().unwrap(), (0..n % 50).sum());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
}

fn parent_alive((): ()) -> (bool, i32) {
    let parent = parent_process().expect("a forkserver child knows its client");
    (parent.is_alive(), os::getppid().as_raw())
}

#[test]
fn the_client_is_the_parent_the_server_is_the_reaper() {
    let _w = watchdog(LIMIT);
    let (alive, ppid) = with(StartMethod::Forkserver)
        .spawn_fn(parent_alive, ())
        .unwrap()
        .join()
        .unwrap();
    assert!(alive);
    // The worker's real parent is the server, not this process.
    assert_ne!(ppid, os::getpid().as_raw());
    // One server for every start.
    let (_, ppid2) = with(StartMethod::Forkserver)
        .spawn_fn(parent_alive, ())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(ppid, ppid2);
}
