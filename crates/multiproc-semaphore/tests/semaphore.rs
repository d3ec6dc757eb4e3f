//! Semaphores across real processes.

use multiproc_internal::block::{Layout, SharedBlock};
use multiproc_internal::fdpass::{recv_fds, send_fds};
use multiproc_internal::testing::{
    fork_child, reexec, reexec_role, shm_names, test_name, until_asleep, wait_child, wait_until,
};
use multiproc_semaphore::{BoundedSemaphore, ReleaseError, Semaphore, MAX_VALUE};
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Shared words for the tests (flags, counters).
struct Shared(SharedBlock);

impl Shared {
    fn new() -> Shared {
        let layout = Layout {
            magic: 1,
            version: 1,
            elem_size: 1,
            elem_align: 1,
            len: 64,
        };
        Shared(SharedBlock::create_anonymous("test-words", &layout, 64).unwrap())
    }
    fn word(&self, i: usize) -> &AtomicU32 {
        self.0.atomic_u32(64 + 4 * i).unwrap()
    }
}

#[test]
fn two_units_three_processes() {
    let sem = Semaphore::new(2).unwrap();
    let w = Shared::new();
    let (held, release) = (w.word(0), w.word(1));
    let holders: Vec<_> = (0..2)
        .map(|_| {
            fork_child(|| {
                sem.acquire();
                held.fetch_add(1, Ordering::AcqRel);
                wait_until("release", || release.load(Ordering::Acquire) == 1);
                sem.release().unwrap();
            })
        })
        .collect();
    wait_until("both holders", || held.load(Ordering::Acquire) == 2);
    // The third party finds no unit.
    assert!(!sem.try_acquire());
    assert_eq!(sem.value(), 0);
    let start = Instant::now();
    assert!(!sem.acquire_timeout(Duration::from_millis(200)));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "{took:?}"
    );
    release.store(1, Ordering::Release);
    for h in holders {
        h.assert_success();
    }
    assert!(sem.acquire_timeout(Duration::from_secs(10)));
    assert_eq!(sem.value(), 1);
}

#[test]
fn a_release_wakes_a_sleeper_in_another_process() {
    let sem = Semaphore::new(0).unwrap();
    let child = fork_child(|| sem.acquire());
    until_asleep(child.pid());
    sem.release().unwrap();
    child.assert_success();
    assert_eq!(sem.value(), 0);
}

#[test]
fn exclusion_under_contention() {
    // A semaphore of 1 as a lock: 4 processes × 20,000 sections, never two inside.
    let sem = Semaphore::new(1).unwrap();
    let w = Shared::new();
    let (inside, total) = (w.word(0), w.word(1));
    let kids: Vec<_> = (0..4)
        .map(|_| {
            fork_child(|| {
                for _ in 0..20_000 {
                    let _unit = sem.access();
                    assert_eq!(inside.fetch_add(1, Ordering::AcqRel), 0, "two holders");
                    let t = total.load(Ordering::Relaxed);
                    total.store(t + 1, Ordering::Relaxed);
                    inside.fetch_sub(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    for k in kids {
        k.assert_success();
    }
    assert_eq!(total.load(Ordering::Acquire), 80_000);
    assert_eq!(sem.value(), 1);
}

#[test]
fn bounded_semaphores_refuse_over_release() {
    let s = BoundedSemaphore::new(2).unwrap();
    assert_eq!(s.max_value(), 2);
    assert_eq!(s.release(), Err(ReleaseError::OverReleased { max: 2 }));
    assert_eq!(s.value(), 2);
    fork_child(|| {
        s.acquire();
        s.acquire();
        assert!(!s.try_acquire());
    })
    .assert_success();
    // The child's units are gone with it: a semaphore has no owner.
    assert_eq!(s.value(), 0);
    s.release().unwrap();
    s.release().unwrap();
    assert_eq!(s.release(), Err(ReleaseError::OverReleased { max: 2 }));
    assert!(BoundedSemaphore::new(MAX_VALUE).is_ok());
    assert_eq!(
        Semaphore::new(MAX_VALUE + 1).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let full = Semaphore::new(MAX_VALUE).unwrap();
    assert_eq!(full.release(), Err(ReleaseError::Overflow));
}

#[test]
fn handed_to_a_process_by_fd() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let child = fork_child(|| {
        let mut b = [0u8; 1];
        let (_, mut fds) = recv_fds(theirs.as_fd(), &mut b, 1).unwrap();
        let sem = Semaphore::from_fd(fds.pop().unwrap()).unwrap();
        assert!(sem.acquire_timeout(Duration::from_secs(10)));
        let (_, mut fds) = recv_fds(theirs.as_fd(), &mut b, 1).unwrap();
        // A file that is no semaphore is refused.
        assert!(Semaphore::from_fd(fds.pop().unwrap()).is_err());
    });
    let sem = Semaphore::new(1).unwrap();
    send_fds(ours.as_fd(), b"s", &[sem.as_fd()]).unwrap();
    let other = SharedBlock::create_anonymous(
        "not-a-semaphore",
        &Layout {
            magic: 7,
            version: 1,
            elem_size: 1,
            elem_align: 1,
            len: 8,
        },
        8,
    )
    .unwrap();
    send_fds(ours.as_fd(), b"x", &[other.fd()]).unwrap();
    child.assert_success();
    assert_eq!(sem.value(), 0);
}

const NAMED: &str = "named_semaphore_from_an_unrelated_process";

#[test]
fn named_semaphore_from_an_unrelated_process() {
    if let Some(role) = reexec_role() {
        assert_eq!(role, "peer");
        let name = std::env::var("SEM_NAME").unwrap();
        let sem = BoundedSemaphore::open(&name).unwrap();
        assert!(sem.acquire_timeout(Duration::from_secs(10)));
        assert!(!sem.try_acquire());
        return;
    }
    let name = test_name("sem");
    let sem = BoundedSemaphore::create_named(&name, 1).unwrap();
    assert_eq!(sem.name(), Some(name.as_str()));
    assert_eq!(
        Semaphore::create_named(&name, 1).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    let mut child = reexec(NAMED, "peer")
        .env("SEM_NAME", &name)
        .spawn()
        .unwrap();
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    assert_eq!(sem.value(), 0, "the peer took the unit and died with it");
    drop(sem);
    assert!(shm_names(&name).is_empty(), "the creator's drop unlinks");
    assert_eq!(
        Semaphore::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // A name that holds something else is refused.
    let seg = test_name("not-sem");
    std::fs::write(format!("/dev/shm/{seg}"), [0u8; 128]).unwrap();
    assert_eq!(
        Semaphore::open(&seg).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    std::fs::remove_file(format!("/dev/shm/{seg}")).unwrap();
}

#[test]
fn bounded_and_unbounded_are_different_kinds() {
    let b = BoundedSemaphore::new(1).unwrap();
    let err = Semaphore::from_fd(b.as_fd().try_clone_to_owned().unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let s = Semaphore::new(1).unwrap();
    let err = BoundedSemaphore::from_fd(s.as_fd().try_clone_to_owned().unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(BoundedSemaphore::from_fd(b.as_fd().try_clone_to_owned().unwrap()).is_ok());
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<multiproc_semaphore::SemaphoreGuard<'static>>();
    send_sync::<ReleaseError>();
}
