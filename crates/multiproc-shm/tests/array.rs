//! `Array` and `RawArray` across real processes.

use multiproc_internal::testing::{fork_child, wait_until, ChildExit};
use multiproc_shm::{AccessError, Array, LockError, OutOfBounds, RawArray, RawValue};

#[test]
fn slices_in_and_out_across_processes() {
    let a = Array::<i64>::zeroed(1000).unwrap();
    fork_child(|| {
        let data: Vec<i64> = (0..500).collect();
        a.write(250, &data).unwrap();
        a.set(0, -1).unwrap();
    })
    .assert_success();
    let mut mid = vec![0i64; 500];
    a.read(250, &mut mid).unwrap();
    assert_eq!(mid, (0..500).collect::<Vec<_>>());
    assert_eq!(a.get(0).unwrap(), -1);
    assert_eq!(a.get(999).unwrap(), 0);
    assert_eq!(a.len(), 1000);
    let all = a.to_vec().unwrap();
    assert_eq!(&all[250..750], &mid[..]);
}

#[test]
fn guard_gives_the_whole_slice_to_one_process_at_a_time() {
    let a = Array::from_slice(&[0u32; 64]).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            fork_child(|| {
                for _ in 0..10_000 {
                    let mut g = a.lock().unwrap();
                    // Each element is read-modify-written: only exclusion keeps them equal.
                    for x in g.iter_mut() {
                        *x += 1;
                    }
                }
            })
        })
        .collect();
    for c in children {
        c.assert_success();
    }
    assert!(a.lock().unwrap().iter().all(|&x| x == 40_000));
}

#[test]
fn out_of_bounds_is_an_error_not_a_panic() {
    let a = Array::from_slice(&[1u8, 2, 3]).unwrap();
    let oob = |start, len| {
        AccessError::OutOfBounds(OutOfBounds {
            start,
            len,
            size: 3,
        })
    };
    assert_eq!(a.get(3), Err(oob(3, 1)));
    assert_eq!(a.set(usize::MAX, 0), Err(oob(usize::MAX, 1)));
    assert_eq!(a.read(2, &mut [0; 2]), Err(oob(2, 2)));
    assert_eq!(a.write(1, &[0; 3]), Err(oob(1, 3)));
    assert_eq!(a.to_vec().unwrap(), vec![1, 2, 3]);
    let r = RawArray::from_slice(&[1u16, 2]).unwrap();
    assert_eq!(
        r.get(2),
        Err(OutOfBounds {
            start: 2,
            len: 1,
            size: 2
        })
    );
    assert!(r.write(usize::MAX, &[1]).is_err());
    let empty = Array::<u8>::zeroed(0).unwrap();
    assert!(empty.is_empty());
    assert!(empty.lock().unwrap().is_empty());
}

#[test]
fn bool_arrays_and_killed_holder() {
    let a = Array::from_slice(&[false; 16]).unwrap();
    let ready = RawValue::new(0u32).unwrap();
    let holder = fork_child(|| {
        let mut g = a.lock().unwrap();
        g[3] = true;
        ready.set(1);
        loop {
            std::thread::park();
        }
    });
    wait_until("the holder to lock", || ready.get() == 1);
    holder.kill().unwrap();
    assert_eq!(holder.wait(), ChildExit::Signaled(libc::SIGKILL));
    assert_eq!(a.get(3), Err(AccessError::OwnerDied));
    match a.lock() {
        Err(LockError::OwnerDied(mut g)) => {
            assert!(g[3]);
            g.make_consistent();
        }
        other => panic!("expected OwnerDied, got {:?}", other.map(|_| ())),
    }
    assert!(a.get(3).unwrap());
}

#[test]
fn raw_array_copies_and_unsafe_slices() {
    let mut r = RawArray::<u32>::zeroed(8).unwrap();
    fork_child(|| r.write(0, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap()).assert_success();
    assert_eq!(r.to_vec(), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    // SAFETY: the only writer (the child) has exited.
    let sum: u32 = unsafe { r.as_slice() }.iter().sum();
    assert_eq!(sum, 36);
    // SAFETY: no other process has this array any more.
    unsafe { r.as_mut_slice() }.fill(9);
    assert_eq!(r.get(7).unwrap(), 9);
}
