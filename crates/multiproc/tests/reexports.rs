//! Every re-export of the umbrella is callable, and shares across a real process.

use multiproc::prelude::*;
use multiproc_internal::testing::fork_child;
use std::sync::atomic::Ordering;

#[test]
fn every_reexport_works_across_a_fork() {
    let value = multiproc::Value::new(1u32).unwrap();
    let raw_value = multiproc::RawValue::new(2u32).unwrap();
    let array = multiproc::Array::<u8>::zeroed(3).unwrap();
    let raw_array = multiproc::RawArray::<u8>::zeroed(3).unwrap();
    let atomic = multiproc::Atomic::new(0u64).unwrap();
    let seg = multiproc::SharedMemory::create(16).unwrap();
    fork_child(|| {
        value.set(10).unwrap();
        raw_value.set(20);
        array.set(1, 30).unwrap();
        raw_array.set(2, 40).unwrap();
        atomic.fetch_add(50, Ordering::AcqRel);
        multiproc::SharedMemory::open(seg.name())
            .unwrap()
            .write(0, &[60])
            .unwrap();
    })
    .assert_success();
    assert_eq!(value.get().unwrap(), 10);
    assert_eq!(raw_value.get(), 20);
    assert_eq!(array.to_vec().unwrap(), vec![0, 30, 0]);
    assert_eq!(raw_array.to_vec(), vec![0, 0, 40]);
    assert_eq!(atomic.load(Ordering::Acquire), 50);
    let mut b = [0u8];
    seg.read(0, &mut b).unwrap();
    assert_eq!(b, [60]);
    // The module path and the prelude name the same items.
    // Only this test's names: other test binaries may run at the same time, and plain
    // `cleanup()` (exercised by its doc test and the tour) would sweep theirs too.
    let sweep: fn() -> std::io::Result<Vec<String>> = multiproc::shm::cleanup;
    let _ = sweep;
    assert!(multiproc::shm::cleanup_with_prefix(seg.name())
        .unwrap()
        .is_empty());
    let v: Value<u8> = multiproc::shm::Value::new(1).unwrap();
    assert!(v.try_lock().is_ok());
    let _ = (
        std::any::type_name::<AccessError>(),
        std::any::type_name::<LockError<()>>(),
        std::any::type_name::<TryLockError<()>>(),
        std::any::type_name::<Array<u8>>(),
        std::any::type_name::<Atomic<u8>>(),
        std::any::type_name::<RawArray<u8>>(),
        std::any::type_name::<RawValue<u8>>(),
        std::any::type_name::<SharedMemory>(),
    );
}

#[test]
fn signal_reexports_work_across_a_fork() {
    use multiproc::signal;
    let ready = multiproc::Atomic::new(0u8).unwrap();
    let child = fork_child(|| {
        let mut signals = multiproc::Signals::new([Signal::Term]).unwrap();
        ready.store(1, Ordering::Release);
        assert_eq!(
            signals.wait().collect::<Vec<_>>(),
            [multiproc::Signal::Term]
        );
    });
    multiproc_internal::testing::wait_until("the child", || ready.load(Ordering::Acquire) == 1);
    let fd = PidFd::open(Pid::from_raw(child.pid())).unwrap();
    fd.send(Signal::Term).unwrap();
    child.assert_success();
    assert!(signal::is_alive(multiproc::Pid::this()).unwrap());
    assert!(matches!(
        signal::ignore(Signal::Kill),
        Err(SignalError::Uncatchable(_))
    ));
    assert_eq!(signal::alarm(0), 0);
}

#[test]
fn semaphore_reexports_work_across_a_fork() {
    let sem = multiproc::Semaphore::new(0).unwrap();
    let bounded = multiproc::semaphore::BoundedSemaphore::new(1).unwrap();
    fork_child(|| {
        let _unit = bounded.access();
        sem.release().unwrap();
    })
    .assert_success();
    assert!(sem.acquire_timeout(std::time::Duration::from_secs(10)));
    assert_eq!(bounded.value(), 1);
    let _: &BoundedSemaphore = &bounded;
    let _: Option<&Semaphore> = None;
}

#[test]
fn sync_reexports_work_across_a_fork() {
    let go = multiproc::Event::new().unwrap();
    let meet = multiproc::sync::Barrier::new(2).unwrap();
    let child = fork_child(|| {
        go.wait();
        assert_eq!(meet.wait().map(|i| i < 2), Ok(true));
    });
    go.set();
    assert!(meet
        .wait_timeout(std::time::Duration::from_secs(20))
        .is_ok());
    child.assert_success();
    let lock = multiproc::Lock::new().unwrap();
    let rlock = multiproc::RLock::new().unwrap();
    let cond = multiproc::Condition::new().unwrap();
    let guard = lock.lock().unwrap();
    let child = fork_child(|| {
        // Runs only once the parent's wait released the lock.
        let _g: LockGuard<'_> = lock.lock().unwrap();
        let _r: RLockGuard<'_> = rlock.lock().unwrap();
        cond.notify_all();
    });
    let (guard, notified) = cond
        .wait_timeout(guard, std::time::Duration::from_secs(20))
        .unwrap();
    assert!(notified);
    drop(guard);
    child.assert_success();
    let _: &multiproc::sync::Lock = &lock;
    let _: (&RLock, &Condition) = (&rlock, &cond);
    let _: Option<multiproc::sync::LockError<()>> = None;
    let _: Option<BrokenBarrier> = None;
    let _: &Event = &go;
    let _: &Barrier = &meet;
}

#[test]
fn pipe_reexports_work_across_a_fork() {
    let (mut parent, mut child_end): (Connection, Connection) = multiproc::pipe::pipe().unwrap();
    let (mut rx, mut tx): (Receiver, Sender) = multiproc::pipe::pipe_simplex().unwrap();
    let child = fork_child(|| {
        let n: u32 = child_end.recv().unwrap();
        tx.send(&(n + 1)).unwrap();
    });
    parent.send(&41u32).unwrap();
    assert_eq!(rx.recv::<u32>().unwrap(), 42);
    child.assert_success();
    assert_eq!(
        multiproc::pipe::wait(&[&rx], Some(std::time::Duration::ZERO)).unwrap(),
        Vec::<usize>::new()
    );
    let _: Option<(RecvError, SendError)> = None;
}

#[test]
fn shared_objects_travel_through_the_reexported_pipe() {
    let (mut parent, mut child_end) = multiproc::pipe::pipe().unwrap();
    let child = fork_child(|| {
        let (counter, done): (multiproc::shm::Value<u32>, Event) = child_end.recv().unwrap();
        counter.set(7).unwrap();
        done.set();
    });
    let counter = multiproc::shm::Value::new(0u32).unwrap();
    let done = Event::new().unwrap();
    parent.send(&(&counter, &done)).unwrap();
    assert!(done.wait_timeout(std::time::Duration::from_secs(20)));
    child.assert_success();
    assert_eq!(counter.get().unwrap(), 7);
    let _: Option<multiproc::pipe::Fd> = None;
}

#[test]
fn the_reexported_listener_authenticates_a_client_in_another_process() {
    use multiproc::pipe::{Client, ConnectError, Listener};
    let listener = Listener::bind_unix_temp(Some(b"key")).unwrap();
    let address = listener.address().clone();
    let child = fork_child(|| {
        let wrong = Client::connect(&address, Some(b"nope"));
        assert!(matches!(wrong, Err(ConnectError::AuthenticationFailed)));
        let mut c = Client::connect(&address, Some(b"key")).unwrap();
        c.send(&"hello").unwrap();
    });
    // Bounded waits: a child that failed before connecting must not hang the test.
    let patience = Some(std::time::Duration::from_secs(20));
    assert_eq!(multiproc::pipe::wait(&[&listener], patience).unwrap(), [0]);
    assert!(matches!(
        listener.accept(),
        Err(ConnectError::AuthenticationFailed)
    ));
    assert_eq!(multiproc::pipe::wait(&[&listener], patience).unwrap(), [0]);
    let mut conn = listener.accept().unwrap();
    assert_eq!(conn.recv::<String>().unwrap(), "hello");
    child.assert_success();
}

#[test]
fn the_reexported_process_and_spawn_run_children() {
    let queue = multiproc::Queue::<u32>::new(0).unwrap();
    let q = queue.clone();
    let mut p = Process::new(move || {
        q.put(multiproc::process::os::getpid().as_raw() as u32)
            .unwrap()
    });
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert_eq!(queue.get().unwrap(), pid.as_raw() as u32);
    assert!(p.join().unwrap().success());
    let h: JoinHandle<String> = spawn(|| current_process().name().to_owned()).unwrap();
    let name = h.name().to_owned();
    assert_eq!(h.join().unwrap(), name);
    assert!(matches!(
        spawn(|| -> u8 { panic!("boom") }).unwrap().join(),
        Err(JoinError::Panicked(m)) if m == "boom"
    ));
    assert!(cpu_count() >= 1);
    assert!(active_children().iter().all(|c| c.pid != pid));
}
