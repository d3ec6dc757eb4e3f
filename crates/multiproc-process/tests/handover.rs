//! Every kind of shared object created before `start` works in the child (`fork`).

use multiproc_internal::testing::watchdog;
use multiproc_mqueue::Queue;
use multiproc_pipe::pipe;
use multiproc_process::{spawn, Process};
use multiproc_shm::Value;
use multiproc_sync::Lock;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn queue_lock_value_and_connection_reach_the_child() {
    let _w = watchdog(Duration::from_secs(60));
    let queue = Queue::<String>::new(0).unwrap();
    // The child gets a copy of the parent's memory: an `Arc` to the same mapping works.
    let lock = Arc::new(Lock::new().unwrap());
    let value = Arc::new(Value::new(0u64).unwrap());
    let (mut ours, mut theirs) = pipe().unwrap();

    let (q, l, v) = (queue.clone(), Arc::clone(&lock), Arc::clone(&value));
    let mut p = Process::new(move || {
        let request: String = theirs.recv().unwrap();
        for _ in 0..1000 {
            let _g = l.lock().unwrap();
            v.with_lock(|n| *n += 1).unwrap();
        }
        q.put(format!("{request} done")).unwrap();
        theirs.send(&"bye").unwrap();
    });
    p.start().unwrap();
    ours.send(&"job").unwrap();
    for _ in 0..1000 {
        let _g = lock.lock().unwrap();
        value.with_lock(|n| *n += 1).unwrap();
    }
    assert_eq!(queue.get().unwrap(), "job done");
    assert_eq!(ours.recv::<String>().unwrap(), "bye");
    assert!(p.join().unwrap().success());
    assert_eq!(value.get().unwrap(), 2000);
}

#[test]
fn spawned_closure_uses_a_queue_and_returns() {
    let _w = watchdog(Duration::from_secs(60));
    let queue = Queue::<u32>::new(0).unwrap();
    let q = queue.clone();
    let h = spawn(move || (0..100).map(|_| q.get().unwrap()).sum::<u32>()).unwrap();
    for i in 0..100 {
        queue.put(i).unwrap();
    }
    assert_eq!(h.join().unwrap(), (0..100).sum::<u32>());
}
