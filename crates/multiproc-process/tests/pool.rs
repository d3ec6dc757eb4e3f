//! `Pool`: Python's pool API, and the failures Python's pool hangs on, under every start
//! method (modules `fork`, `spawn`, `forkserver`). Tasks report to the test through a
//! `Queue` handed to the workers by the pool's initializer.

use multiproc_internal::testing::{fd_readable, process_state, watchdog};
use multiproc_mqueue::Queue;
use multiproc_process::{ExitStatus, Pool, PoolError, Signal, StartMethod};
use std::collections::HashSet;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);
/// How soon a worker's death must reach the caller.
const PROMPT: Duration = Duration::from_secs(1);

macro_rules! under_every_method {
    ($($case:ident),* $(,)?) => {
        mod fork {
            $(#[test]
            fn $case() {
                super::$case(super::StartMethod::Fork)
            })*
        }
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

under_every_method!(
    map_apply_and_starmap,
    large_maps_in_every_chunk_size,
    imap_keeps_order_and_imap_unordered_returns_all,
    timeouts_and_successful,
    a_panicking_task_fails_alone,
    worker_killed_while_idle_is_replaced,
    worker_killed_while_running_fails_its_task_only,
    worker_killed_while_receiving_a_task,
    worker_killed_while_sending_its_result,
    worker_exiting_or_crashing_in_a_task,
    max_tasks_per_child_and_initializer,
    terminate_and_drop_leave_no_process,
    close_join_and_callbacks,
);

// ---- Tasks (fn items: they run under every start method). ----

/// Where tasks report: set in each worker by the initializer.
static REPORT: OnceLock<Queue<i32>> = OnceLock::new();
/// A number the initializer saw, for the tasks to return.
static SEEN: OnceLock<u32> = OnceLock::new();

fn init(q: Queue<i32>) {
    assert!(REPORT.set(q).is_ok(), "the initializer ran twice");
}

fn init_seen(n: u32) {
    let _ = SEEN.set(n);
}

fn pid() -> i32 {
    std::process::id() as i32
}

fn report_pid() {
    REPORT
        .get()
        .expect("the initializer ran")
        .put(pid())
        .unwrap();
}

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn identity(x: u32) -> u32 {
    x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn worker_pid((): ()) -> i32 {
    pid()
}

fn seen((): ()) -> Option<u32> {
    SEEN.get().copied()
}

fn fail_on_odd(x: u32) -> u32 {
    assert!(x.is_multiple_of(2), "odd input {x}");
    x
}

/// Reports its pid, then never ends.
fn hang(_: u32) -> u32 {
    report_pid();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Reports its pid, then sleeps `ms`.
fn report_and_sleep(ms: u64) -> u64 {
    report_pid();
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn length(v: Vec<u8>) -> usize {
    v.len()
}

/// Reports its pid, then returns a result far larger than the worker's ring.
fn big_result(n: usize) -> Vec<u8> {
    report_pid();
    vec![7u8; n]
}

fn exit_with(code: i32) -> u32 {
    multiproc_process::os::exit(code)
}

fn segfault((): ()) -> u32 {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: no core file (writing one would delay the worker's end past the test's bound);
    // SIGSEGV's default action restored (the standard library's handler would return from a
    // raised one) and raised at this process: it ends the worker, as a crash does.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    unreachable!("SIGSEGV ends the worker")
}

// ---- Helpers. ----

fn pool_of(method: StartMethod, n: usize) -> Pool {
    Pool::builder()
        .processes(n)
        .start_method(method)
        .build()
        .unwrap()
}

fn reporting_pool(method: StartMethod, n: usize) -> (Pool, Queue<i32>) {
    let q: Queue<i32> = Queue::new(0).unwrap();
    let pool = Pool::builder()
        .processes(n)
        .start_method(method)
        .initializer(init, q.clone())
        .build()
        .unwrap();
    (pool, q)
}

fn kill(pid: i32, sig: libc::c_int) {
    // SAFETY: kill has no memory effects; `pid` is a worker of a pool this test made, alive
    // (it reported, or the pool lists it, and only this test reaps it).
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// The task's error, within `PROMPT` of `since`.
fn prompt_error<T: std::fmt::Debug>(r: Result<T, PoolError>, since: Instant) -> PoolError {
    let e = r.expect_err("the task must fail");
    assert!(
        since.elapsed() < PROMPT,
        "the error took {:?}",
        since.elapsed()
    );
    e
}

fn assert_died(e: &PoolError, pid: i32, status: ExitStatus) {
    match e {
        PoolError::WorkerDied { pid: p, status: s } => {
            assert_eq!(p.as_raw(), pid);
            assert_eq!(*s, Some(status));
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
}

fn killed(sig: Signal) -> ExitStatus {
    ExitStatus::Signaled {
        signal: sig,
        core_dumped: false,
    }
}

/// The pool still works: a map over its workers.
fn still_works(pool: &Pool) {
    assert_eq!(
        pool.map(square, 0..20).unwrap(),
        (0..20).map(|x| x * x).collect::<Vec<_>>()
    );
}

fn assert_gone(pids: &[i32]) {
    for &p in pids {
        assert_eq!(
            process_state(p),
            None,
            "worker {p} is still there (or a zombie)"
        );
    }
}

// ---- Cases. ----

fn map_apply_and_starmap(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    assert_eq!(pool.processes(), 2);
    assert_eq!(pool.start_method(), method);
    assert_eq!(pool.pids().len(), 2);
    assert_eq!(
        pool.map(square, 0..10).unwrap(),
        [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
    );
    assert_eq!(pool.apply(square, 7).unwrap(), 49);
    let r = pool.apply_async(square, 12).unwrap();
    assert_eq!(r.get().unwrap(), 144);
    assert_eq!(
        pool.starmap(add, [(1, 2), (3, 4), (5, 6)]).unwrap(),
        [3, 7, 11]
    );
    assert_eq!(
        pool.starmap_chunked(add, (0..100).map(|i| (i, i)), 7)
            .unwrap(),
        (0..100).map(|i| 2 * i).collect::<Vec<_>>()
    );
    let r = pool.starmap_async(add, [(10, 20)]).unwrap();
    assert_eq!(r.get().unwrap(), [30]);
    // A borrowed input, read lazily.
    let v: Vec<u64> = (0..50).collect();
    let got: Vec<u64> = pool
        .imap(square, v.iter().copied())
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, v.iter().map(|x| x * x).collect::<Vec<_>>());
    assert!(matches!(
        pool.imap_chunked(square, v.iter().copied(), 0).next(),
        Some(Err(PoolError::Argument(_)))
    ));
    // A non-capturing closure is a fn too.
    assert_eq!(
        pool.map(|s: String| s.len(), ["a", "bb", ""].map(String::from))
            .unwrap(),
        [1, 2, 0]
    );
    assert_eq!(pool.map(square, Vec::new()).unwrap(), Vec::<u64>::new());
    // The work happened in the workers.
    let pids: HashSet<i32> = pool
        .map_chunked(worker_pid, vec![(); 50], 1)
        .unwrap()
        .into_iter()
        .collect();
    assert!(!pids.contains(&pid()));
    assert!(pids
        .iter()
        .all(|p| pool.pids().iter().any(|w| w.as_raw() == *p)));
    assert!(matches!(
        pool.map_chunked(square, 0..3, 0),
        Err(PoolError::Argument(_))
    ));
}

fn large_maps_in_every_chunk_size(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    let expect: Vec<u32> = (0..100_000).collect();
    assert_eq!(pool.map(identity, 0..100_000).unwrap(), expect);
    for chunksize in [1, 7, 1000] {
        assert_eq!(
            pool.map_chunked(identity, 0..100_000, chunksize).unwrap(),
            expect,
            "chunksize {chunksize}"
        );
    }
}

fn imap_keeps_order_and_imap_unordered_returns_all(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    // Earlier items take longer: finished out of order, yielded in order.
    let sleeps: Vec<u64> = (0..8).rev().map(|i| i * 5).collect();
    let got: Vec<u64> = pool
        .imap(sleep_ms, sleeps.clone())
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, sleeps);
    let got: Vec<u32> = pool
        .imap_chunked(identity, 0..10_000, 13)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    let got: HashSet<u32> = pool
        .imap_unordered(identity, 0..1000)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..1000).collect());
    let got: Vec<u32> = pool
        .imap_unordered_chunked(identity, 0..1000, 10)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        got.iter().copied().collect::<HashSet<_>>(),
        (0..1000).collect()
    );
    assert_eq!(got.len(), 1000);
    // An endless input is read as the results are taken.
    let firsts: Vec<u32> = pool
        .imap(identity, 0..)
        .take(500)
        .map(Result::unwrap)
        .collect();
    assert_eq!(firsts, (0..500).collect::<Vec<_>>());
    // next_timeout on a slow task.
    let mut it = pool.imap(sleep_ms, [2000]);
    let t = Instant::now();
    assert!(matches!(
        it.next_timeout(Duration::from_millis(100)),
        Some(Err(PoolError::Timeout))
    ));
    assert!(t.elapsed() >= Duration::from_millis(100) && t.elapsed() < Duration::from_millis(600));
    drop(it);
    // A failed task is one error among the results.
    let got: Vec<Result<u32, PoolError>> = pool.imap(fail_on_odd, 0..6).collect();
    assert_eq!(got.len(), 6);
    for (i, r) in got.into_iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(v as usize, i),
            Err(PoolError::Panicked(m)) => {
                assert!(i % 2 == 1 && m.contains(&format!("odd input {i}")), "{m}")
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

fn timeouts_and_successful(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    let mut slow = pool.apply_async(sleep_ms, 1000).unwrap();
    assert!(matches!(slow.successful(), Err(PoolError::NotReady)));
    assert!(!slow.ready());
    let t = Instant::now();
    assert!(matches!(
        slow.get_timeout(Duration::from_millis(200)),
        Err(PoolError::Timeout)
    ));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "{took:?}"
    );
    assert!(!slow.wait_timeout(Duration::from_millis(10)).unwrap());
    slow.wait().unwrap();
    assert!(slow.ready());
    assert!(slow.successful().unwrap());
    assert_eq!(slow.get_timeout(Duration::ZERO).unwrap(), 1000);
    assert!(matches!(
        slow.get_timeout(Duration::ZERO),
        Err(PoolError::AlreadyTaken)
    ));
    assert!(slow.successful().unwrap());
    let bad = pool.apply_async(fail_on_odd, 3).unwrap();
    bad.wait().unwrap();
    assert!(!bad.successful().unwrap());
    assert!(matches!(bad.get(), Err(PoolError::Panicked(_))));
}

fn a_panicking_task_fails_alone(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    let pids = pool.pids();
    let results: Vec<_> = (0..10)
        .map(|i| pool.apply_async(fail_on_odd, i).unwrap())
        .collect();
    for (i, r) in results.into_iter().enumerate() {
        match r.get() {
            Ok(v) => assert_eq!(v as usize, i),
            Err(PoolError::Panicked(m)) => assert_eq!(m, format!("odd input {i}")),
            Err(e) => panic!("task {i}: {e}"),
        }
    }
    // A map with one failing item fails as a whole.
    assert!(matches!(
        pool.map_chunked(fail_on_odd, [0, 2, 3, 4], 1),
        Err(PoolError::Panicked(_))
    ));
    // The same workers go on.
    assert_eq!(pool.pids(), pids);
    still_works(&pool);
}

fn worker_killed_while_idle_is_replaced(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    let before = pool.pids();
    let victim = before[0].as_raw();
    // SAFETY: pidfd_open has no memory effects; `victim` is a live worker of this pool.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, victim, 0) };
    assert!(pidfd >= 0);
    // SAFETY: a fresh fd, owned here.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    kill(victim, libc::SIGKILL);
    // Dead while idle (every thread gone; a zombie until the pool reaps it): no task is
    // lost to it.
    assert!(fd_readable(pidfd.as_fd(), Duration::from_secs(10)));
    still_works(&pool);
    let after = pool.pids();
    assert_eq!(after.len(), 2);
    assert!(!after.iter().any(|p| p.as_raw() == victim));
    assert_gone(&[victim]);
}

fn worker_killed_while_running_fails_its_task_only(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let (pool, q) = reporting_pool(method, 2);
    let stuck = pool.apply_async(hang, 0).unwrap();
    let victim = q.get().unwrap();
    // Others queued behind: they run on the other worker, or on the replacement.
    let others: Vec<_> = (0..6)
        .map(|_| pool.apply_async(report_and_sleep, 10).unwrap())
        .collect();
    let t = Instant::now();
    kill(victim, libc::SIGKILL);
    let e = prompt_error(stuck.get(), t);
    assert_died(&e, victim, killed(Signal::Kill));
    assert!(
        e.to_string().contains(&victim.to_string()) && e.to_string().contains("SIGKILL"),
        "{e}"
    );
    for r in others {
        assert_eq!(r.get().unwrap(), 10);
    }
    assert_gone(&[victim]);
    still_works(&pool);
    assert_eq!(pool.pids().len(), 2);
}

fn worker_killed_while_receiving_a_task(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 1);
    let victim = pool.pids()[0].as_raw();
    // 32 MiB through a 1 MiB ring: the worker is receiving it when it is killed.
    let r = pool.apply_async(length, vec![1u8; 32 << 20]).unwrap();
    let t = Instant::now();
    kill(victim, libc::SIGKILL);
    let e = prompt_error(r.get(), t);
    assert_died(&e, victim, killed(Signal::Kill));
    still_works(&pool);
    assert_eq!(pool.apply(length, vec![0u8; 3 << 20]).unwrap(), 3 << 20);
}

fn worker_killed_while_sending_its_result(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let (pool, q) = reporting_pool(method, 1);
    // Nobody reads while the worker sends 32 MiB through a 1 MiB ring: it is stuck sending.
    let r = pool.apply_async(big_result, 32 << 20).unwrap();
    let victim = q.get().unwrap();
    multiproc_internal::testing::until_asleep(victim);
    let t = Instant::now();
    kill(victim, libc::SIGKILL);
    let e = prompt_error(r.get(), t);
    assert_died(&e, victim, killed(Signal::Kill));
    // Whole, afterwards.
    let r = pool.apply_async(big_result, 3 << 20).unwrap();
    assert_ne!(q.get().unwrap(), victim);
    assert_eq!(r.get().unwrap(), vec![7u8; 3 << 20]);
}

fn worker_exiting_or_crashing_in_a_task(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    let t = Instant::now();
    let e = prompt_error(pool.apply(exit_with, 3), t);
    assert!(
        matches!(
            e,
            PoolError::WorkerDied {
                status: Some(ExitStatus::Exited(3)),
                ..
            }
        ),
        "{e:?}"
    );
    let t = Instant::now();
    let e = prompt_error(pool.apply(segfault, ()), t);
    assert!(
        matches!(
            e,
            PoolError::WorkerDied {
                status: Some(ExitStatus::Signaled {
                    signal: Signal::Segv,
                    ..
                }),
                ..
            }
        ),
        "{e:?}"
    );
    still_works(&pool);
    assert_eq!(pool.pids().len(), 2);
}

fn max_tasks_per_child_and_initializer(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = Pool::builder()
        .processes(2)
        .start_method(method)
        .max_tasks_per_child(1)
        .initializer(init_seen, 42)
        .build()
        .unwrap();
    let rs: Vec<_> = (0..100)
        .map(|_| pool.apply_async(worker_pid, ()).unwrap())
        .collect();
    let pids: HashSet<i32> = rs.into_iter().map(|r| r.get().unwrap()).collect();
    assert_eq!(pids.len(), 100);
    let seen = pool.map_chunked(seen, vec![(); 20], 1).unwrap();
    assert!(seen.iter().all(|s| *s == Some(42)), "{seen:?}");
    pool.close();
    pool.join().unwrap();
    assert!(pool.pids().is_empty());
    assert_gone(&pids.into_iter().collect::<Vec<_>>());
}

fn terminate_and_drop_leave_no_process(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let (pool, q) = reporting_pool(method, 2);
    let stuck: Vec<_> = (0..4).map(|i| pool.apply_async(hang, i).unwrap()).collect();
    let running = [q.get().unwrap(), q.get().unwrap()];
    let pids: Vec<i32> = pool.pids().iter().map(|p| p.as_raw()).collect();
    let t = Instant::now();
    pool.terminate();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "terminate took {:?}",
        t.elapsed()
    );
    for r in stuck {
        assert!(matches!(r.get(), Err(PoolError::Terminated)));
    }
    assert_gone(&pids);
    assert_gone(&running);
    assert!(matches!(pool.apply(square, 1), Err(PoolError::Terminated)));
    pool.join().unwrap();

    // Dropped while busy.
    let (pool, q) = reporting_pool(method, 2);
    let _stuck: Vec<_> = (0..2).map(|i| pool.apply_async(hang, i).unwrap()).collect();
    let pids: Vec<i32> = pool.pids().iter().map(|p| p.as_raw()).collect();
    q.get().unwrap();
    q.get().unwrap();
    let t = Instant::now();
    drop(pool);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        t.elapsed()
    );
    assert_gone(&pids);
}

fn close_join_and_callbacks(method: StartMethod) {
    let _w = watchdog(LIMIT);
    let pool = pool_of(method, 2);
    assert!(matches!(pool.join(), Err(PoolError::Running)));
    let got = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10u64 {
        let got = got.clone();
        pool.apply_async(square, i)
            .unwrap()
            .then(move |r| got.lock().unwrap().push(r.unwrap()));
    }
    let failed = Arc::new(Mutex::new(None));
    let f = failed.clone();
    pool.apply_async(fail_on_odd, 1)
        .unwrap()
        .then(move |r| *f.lock().unwrap() = Some(r));
    let kept = pool.map_async(square, 0..5).unwrap();
    let pids: Vec<i32> = pool.pids().iter().map(|p| p.as_raw()).collect();
    pool.close();
    assert!(matches!(pool.apply(square, 1), Err(PoolError::Closed)));
    pool.join().unwrap();
    let mut got = got.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..10).map(|i| i * i).collect::<Vec<_>>());
    assert!(matches!(
        failed.lock().unwrap().take(),
        Some(Err(PoolError::Panicked(_)))
    ));
    assert_eq!(kept.get().unwrap(), [0, 1, 4, 9, 16]);
    assert_gone(&pids);
}

#[test]
fn bad_parameters_are_refused() {
    assert!(matches!(Pool::new(0), Err(PoolError::Argument(_))));
    assert!(matches!(
        Pool::builder().processes(1).max_tasks_per_child(0).build(),
        Err(PoolError::Argument(_))
    ));
}

#[test]
fn an_initializer_that_panics_breaks_the_pool_without_hanging() {
    fn bad_init((): ()) {
        panic!("no database");
    }
    let _w = watchdog(LIMIT);
    let pool = Pool::builder()
        .processes(2)
        .initializer(bad_init, ())
        .build()
        .unwrap();
    let t = Instant::now();
    match pool.apply(square, 2) {
        Err(PoolError::Initializer(m)) => assert!(m.contains("no database"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        pool.apply(square, 2),
        Err(PoolError::Initializer(_))
    ));
}

#[test]
fn a_task_argument_cannot_carry_a_handle() {
    fn take(q: Queue<i32>) -> usize {
        q.len()
    }
    let _w = watchdog(LIMIT);
    let pool = Pool::new(1).unwrap();
    let q: Queue<i32> = Queue::new(0).unwrap();
    assert!(matches!(
        pool.apply_async(take, q),
        Err(PoolError::Encode(_))
    ));
}

#[test]
fn threads_share_a_pool() {
    let _w = watchdog(LIMIT);
    let pool = Pool::new(2).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..200 {
                    let x = t * 1000 + i;
                    assert_eq!(pool.apply(square, x).unwrap(), x * x);
                }
                let v: Vec<u64> = pool.imap(square, 0..300).map(Result::unwrap).collect();
                assert_eq!(v, (0..300).map(|x| x * x).collect::<Vec<_>>());
            });
        }
    });
}

#[test]
fn an_initializer_that_exits_breaks_the_pool_without_a_respawn_loop() {
    fn exiting_init((): ()) {
        multiproc_process::os::exit(4);
    }
    let _w = watchdog(LIMIT);
    let pool = Pool::builder()
        .processes(2)
        .initializer(exiting_init, ())
        .build()
        .unwrap();
    let t = Instant::now();
    match pool.apply(square, 2) {
        Err(PoolError::Initializer(m)) => assert!(m.contains("exited with code 4"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    // No worker is started again: the pool winds down.
    assert!(matches!(
        pool.apply(square, 2),
        Err(PoolError::Initializer(_))
    ));
    pool.close();
    pool.join().unwrap();
    assert!(pool.pids().is_empty());
}

#[test]
fn callbacks_may_use_the_pool_and_their_panics_surface() {
    let _w = watchdog(LIMIT);
    let pool = Arc::new(Pool::new(2).unwrap());
    let got = Arc::new(Mutex::new(None));
    let (p, g) = (pool.clone(), got.clone());
    pool.apply_async(square, 3).unwrap().then(move |r| {
        // The callback runs after its caller stopped driving: it may wait on the pool.
        let nine = r.unwrap();
        *g.lock().unwrap() = Some(p.apply(square, nine).unwrap());
    });
    // Calls on the pool run the callbacks.
    while got.lock().unwrap().is_none() {
        pool.apply(square, 0).unwrap();
    }
    let panicking = pool.apply_async(square, 4).unwrap();
    // A callback's panic comes out of a call on the pool (or of `then` itself, for a result
    // already in).
    let mut surfaced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        panicking.then(|_| panic!("a callback's panic"));
    }))
    .is_err();
    while !surfaced {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.apply(square, 0).unwrap()
        }));
        surfaced = r.is_err();
    }
    assert_eq!(*got.lock().unwrap(), Some(81));
    still_works(&pool);
}

#[test]
fn join_refuses_while_an_imap_reads_its_input() {
    let _w = watchdog(LIMIT);
    let pool = Pool::new(2).unwrap();
    let mut it = pool.imap(square, 0..100_000);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    pool.close();
    assert!(matches!(pool.join(), Err(PoolError::Running)));
    let rest: Vec<u64> = it.map(Result::unwrap).collect();
    assert_eq!(rest.len(), 99_999);
    pool.join().unwrap();
}

#[test]
fn terminate_from_another_thread_stops_a_waiting_get() {
    let _w = watchdog(LIMIT);
    let (pool, q) = reporting_pool(StartMethod::Fork, 1);
    let stuck = pool.apply_async(hang, 0).unwrap();
    q.get().unwrap();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let waiter = s.spawn(move || {
            // SAFETY: gettid has no preconditions.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            stuck.get()
        });
        // The waiter drives the pool, asleep in its wait.
        multiproc_internal::testing::until_asleep(tid_rx.recv().unwrap());
        let t = Instant::now();
        pool.terminate();
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(matches!(waiter.join().unwrap(), Err(PoolError::Terminated)));
    });
}
