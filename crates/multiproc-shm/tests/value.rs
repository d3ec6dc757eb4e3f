//! `Value` and `RawValue` across real processes.

use multiproc_internal::fdpass::{recv_fds, send_fds};
use multiproc_internal::testing::{
    fork_child, inherited_socket, reexec_role, reexec_with_socket, wait_child, wait_until as until,
    ChildExit, ForkChild,
};
use multiproc_shm::{AccessError, LockError, RawValue, TryLockError, Value};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// A child that takes `v`'s lock, runs `touch` on the value, says so, and waits to be killed.
fn holder<T>(v: &Value<T>, touch: impl FnOnce(&mut T)) -> ForkChild
where
    T: bytemuck::NoUninit + bytemuck::CheckedBitPattern,
{
    let ready = RawValue::new(0u32).unwrap();
    let child = fork_child(|| {
        let mut g = v.lock().unwrap();
        touch(&mut g);
        ready.set(1);
        loop {
            std::thread::park();
        }
    });
    until("the holder to lock", || ready.get() == 1);
    child
}

#[test]
fn child_writes_are_seen_by_the_parent() {
    let v = Value::new(0u32).unwrap();
    let r = RawValue::new(0u64).unwrap();
    fork_child(|| {
        v.set(7).unwrap();
        r.set(u64::MAX - 1);
    })
    .assert_success();
    assert_eq!(v.get().unwrap(), 7);
    assert_eq!(r.get(), u64::MAX - 1);
}

#[test]
fn four_processes_exact_total() {
    let v = Value::new(0u64).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            fork_child(|| {
                for _ in 0..100_000 {
                    *v.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for c in children {
        c.assert_success();
    }
    assert_eq!(v.get().unwrap(), 400_000);
}

#[test]
fn the_python_get_lock_idiom_cannot_deadlock() {
    let v = Value::new(1i32).unwrap();
    let mut guard = v.lock().unwrap();
    // `with v.get_lock(): v.value += 1` — the inner access must not hang.
    assert_eq!(v.get(), Err(AccessError::WouldDeadlock));
    assert_eq!(v.set(5), Err(AccessError::WouldDeadlock));
    assert!(matches!(v.lock(), Err(LockError::WouldDeadlock)));
    // The guard is the way: it already holds the lock.
    *guard += 1;
    drop(guard);
    assert_eq!(v.get().unwrap(), 2);
}

#[test]
fn bool_values_work_and_garbage_is_refused() {
    let flag = Value::new(false).unwrap();
    fork_child(|| flag.set(true).unwrap()).assert_success();
    assert!(flag.get().unwrap());
    *flag.lock().unwrap() = false;
    assert!(!flag.get().unwrap());
    // Another process writes a byte that is no bool (a u8 view of the same memfd).
    let fd = flag.as_fd().try_clone_to_owned().unwrap();
    let bytes = Value::<u8>::from_fd(fd).unwrap();
    bytes.set(2).unwrap();
    assert!(matches!(flag.lock(), Err(LockError::Corrupted)));
    assert_eq!(flag.get(), Err(AccessError::Corrupted));
    // Writing a whole value repairs it.
    bytes.set(1).unwrap();
    assert!(flag.get().unwrap());
}

#[test]
fn killed_holder_reports_owner_died_and_recovery_is_the_callers() {
    let v = Value::new(10u64).unwrap();
    let holder = holder(&v, |x| *x = 11); // half-way through an update
    assert!(v.is_locked());
    assert!(matches!(v.try_lock(), Err(TryLockError::WouldBlock)));
    holder.kill().unwrap();
    let killed = Instant::now();
    // The one-shot accessors report it and leave it flagged.
    // get() blocks until the kernel marks the dead holder, then reports it.
    assert_eq!(v.get(), Err(AccessError::OwnerDied));
    let got = Instant::now();
    assert!(
        got - killed < Duration::from_millis(100),
        "took {:?}",
        got - killed
    );
    assert_eq!(v.set(3), Err(AccessError::OwnerDied));
    // lock() hands over the guard; repair, mark consistent.
    let mut g = v.lock().unwrap_err().into_guard().unwrap();
    assert_eq!(*g, 11);
    assert!(!g.is_consistent());
    *g = 10;
    g.make_consistent();
    drop(g);
    assert_eq!(v.get().unwrap(), 10);
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
}

#[test]
fn unrepaired_owner_death_makes_the_lock_not_recoverable() {
    let v = Value::new(0u8).unwrap();
    let holder = holder(&v, |_| {});
    holder.kill().unwrap();
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
    // Taking the guard and dropping it without make_consistent: unusable for everyone.
    drop(v.lock().unwrap_err());
    fork_child(|| {
        assert!(matches!(v.lock(), Err(LockError::NotRecoverable)));
        assert_eq!(v.get(), Err(AccessError::NotRecoverable));
    })
    .assert_success();
    assert!(matches!(
        v.try_lock(),
        Err(TryLockError::Lock(LockError::NotRecoverable))
    ));
}

#[test]
fn lock_timeout_holds() {
    let v = Value::new(0u16).unwrap();
    let holder = holder(&v, |_| {});
    let start = Instant::now();
    assert!(matches!(
        v.lock_timeout(Duration::from_millis(200)),
        Err(TryLockError::Timeout)
    ));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "{took:?}"
    );
    let start = Instant::now();
    let deadline = start + Duration::from_millis(100);
    assert!(matches!(
        v.lock_deadline(deadline),
        Err(TryLockError::Timeout)
    ));
    assert!(Instant::now() >= deadline);
    holder.kill().unwrap();
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
}

const FD_TEST: &str = "value_handed_by_fd_to_an_unrelated_process";

#[test]
fn value_handed_by_fd_to_an_unrelated_process() {
    if let Some(role) = reexec_role() {
        assert_eq!(role, "receiver");
        let sock = inherited_socket().expect("socket from the parent");
        let mut buf = [0u8; 1];
        let (_, mut fds) = recv_fds(sock.as_fd(), &mut buf, 1).unwrap();
        let v = Value::<u64>::from_fd(fds.pop().unwrap()).unwrap();
        assert_eq!(v.get().unwrap(), 1234);
        for _ in 0..1000 {
            *v.lock().unwrap() += 1;
        }
        // A wrong type is refused.
        let (_, mut fds) = recv_fds(sock.as_fd(), &mut buf, 1).unwrap();
        assert!(Value::<u32>::from_fd(fds.pop().unwrap()).is_err());
        return;
    }
    let v = Value::new(1234u64).unwrap();
    let (mut child, sock) = reexec_with_socket(FD_TEST, "receiver").unwrap();
    send_fds(sock.as_fd(), b"v", &[v.as_fd()]).unwrap();
    send_fds(sock.as_fd(), b"v", &[v.as_fd()]).unwrap();
    let status = wait_child(&mut child, Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    assert_eq!(v.get().unwrap(), 2234);
}

#[test]
fn forged_headers_are_refused() {
    use multiproc_internal::block::{Layout, SharedBlock};
    // A peer hands over a memfd that claims to be a Value<bool> of length 0, with byte 2 where
    // the value would be: it must be refused, not dereferenced.
    for (magic, len) in [(*b"MPVALUE\0", 0u64), (*b"MPVALUE\0", 2), (*b"MPRVALUE", 0)] {
        let layout = Layout {
            magic: u64::from_le_bytes(magic),
            version: 1,
            elem_size: 1,
            elem_align: 1,
            len,
        };
        let forged = SharedBlock::create_anonymous("test-forged", &layout, 4096 - 64).unwrap();
        forged.store(80, &[2]);
        let fd = forged.fd().try_clone_to_owned().unwrap();
        let err = if magic[1] == b'P' && magic[2] == b'V' {
            Value::<bool>::from_fd(fd).unwrap_err()
        } else {
            RawValue::<u8>::from_fd(fd).unwrap_err()
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "len {len}");
    }
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Value<u64>>();
    send_sync::<RawValue<u64>>();
    send_sync::<multiproc_shm::Array<u8>>();
    send_sync::<multiproc_shm::RawArray<u8>>();
    send_sync::<multiproc_shm::Atomic<u64>>();
    send_sync::<multiproc_shm::SharedMemory>();
    send_sync::<LockError<()>>();
    send_sync::<AccessError>();
    fn sync<T: Sync>() {}
    sync::<multiproc_shm::ValueGuard<'static, u64>>();
    sync::<multiproc_shm::ArrayGuard<'static, u64>>();
}
