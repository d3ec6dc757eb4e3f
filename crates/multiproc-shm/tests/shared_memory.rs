//! `SharedMemory` segments and `cleanup`, across real processes.

use multiproc_internal::testing::{
    fork_child, reexec, reexec_role, shm_names, test_name, wait_child, wait_until, ChildExit,
};
use multiproc_shm::{cleanup_with_prefix, SegmentError, SharedMemory};
use std::io::ErrorKind;
use std::sync::atomic::Ordering;
use std::time::Duration;

const BY_NAME: &str = "opened_by_name_from_another_process";

#[test]
fn opened_by_name_from_another_process() {
    if let Some(role) = reexec_role() {
        assert_eq!(role, "peer");
        let name = std::env::var("SEGMENT").unwrap();
        let seg = SharedMemory::open(&name).unwrap();
        assert_eq!(seg.len(), (1 << 20) + 64);
        let mut buf = vec![0u8; 1 << 20];
        seg.read(0, &mut buf).unwrap();
        assert!(buf.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        seg.write(0, b"reply").unwrap();
        seg.atomic_u64(1 << 20)
            .unwrap()
            .fetch_add(1, Ordering::AcqRel);
        return;
    }
    let seg = SharedMemory::create((1 << 20) + 64).unwrap();
    assert!(seg.name().starts_with("multiproc-shm-"));
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    seg.write(0, &data).unwrap();
    seg.atomic_u64(1 << 20)
        .unwrap()
        .store(41, Ordering::Release);
    let mut child = reexec(BY_NAME, "peer")
        .env("SEGMENT", seg.name())
        .spawn()
        .unwrap();
    let status = wait_child(&mut child, Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    let mut reply = [0u8; 5];
    seg.read(0, &mut reply).unwrap();
    assert_eq!(&reply, b"reply");
    assert_eq!(seg.atomic_u64(1 << 20).unwrap().load(Ordering::Acquire), 42);
    // The opener's drop did not unlink it.
    assert_eq!(shm_names(seg.name()).len(), 1);
}

#[test]
fn thousand_create_drop_cycles_leave_dev_shm_unchanged() {
    let prefix = test_name("cycles");
    let mut generated = Vec::new();
    for i in 0..1000 {
        let named = SharedMemory::create_named(&format!("{prefix}-{i}"), 4096).unwrap();
        let anon = SharedMemory::create(64).unwrap();
        generated.push(anon.name().to_owned());
        named.write(0, &[1]).unwrap();
    }
    assert!(shm_names(&prefix).is_empty(), "named segments leaked");
    for name in generated {
        assert!(shm_names(&name).is_empty(), "{name} leaked");
    }
}

#[test]
fn killed_creators_segment_is_removed_by_cleanup() {
    let name = test_name("killed-creator");
    let kept = test_name("kept");
    let ready = multiproc_shm::RawValue::new(0u32).unwrap();
    let creator = fork_child(|| {
        let seg = SharedMemory::create_named(&name, 4096).unwrap();
        let mut keep = SharedMemory::create_named(&kept, 4096).unwrap();
        keep.keep().unwrap();
        seg.write(0, b"x").unwrap();
        ready.set(1);
        loop {
            std::thread::park();
        }
    });
    wait_until("the holder to lock", || ready.get() == 1);
    // While the creator lives, cleanup leaves it alone. (Tests sweep only their own names:
    // other test binaries may run at the same time.)
    assert!(cleanup_with_prefix(&name).unwrap().is_empty());
    creator.kill().unwrap();
    // A zombie still counts as alive: reap first.
    assert_eq!(creator.wait(), ChildExit::Signaled(libc::SIGKILL));
    assert_eq!(
        shm_names(&name),
        vec![name.clone()],
        "the killed creator could not unlink"
    );
    assert_eq!(cleanup_with_prefix(&name).unwrap(), vec![name.clone()]);
    assert!(shm_names(&name).is_empty());
    // A kept segment survives its creator and cleanup.
    assert!(cleanup_with_prefix(&kept).unwrap().is_empty());
    let mut k = SharedMemory::open(&kept).unwrap();
    k.unlink().unwrap();
}

#[test]
fn squatting_is_already_exists() {
    let name = test_name("squat");
    let first = SharedMemory::create_named(&name, 64).unwrap();
    assert_eq!(
        SharedMemory::create_named(&name, 64).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    drop(first);
    let target = format!("/tmp/{name}-target");
    std::fs::write(&target, b"victim").unwrap();
    std::os::unix::fs::symlink(&target, format!("/dev/shm/{name}")).unwrap();
    assert_eq!(
        SharedMemory::create_named(&name, 64).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert!(SharedMemory::open(&name).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"victim");
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    std::fs::remove_file(&target).unwrap();
}

#[test]
fn bad_sizes_and_names_are_clear_errors() {
    let kind = |r: std::io::Result<SharedMemory>| r.unwrap_err().kind();
    assert_eq!(kind(SharedMemory::create(0)), ErrorKind::InvalidInput);
    assert_eq!(
        kind(SharedMemory::create(usize::MAX)),
        ErrorKind::InvalidInput
    );
    assert_eq!(kind(SharedMemory::create(1 << 50)), ErrorKind::OutOfMemory);
    for bad in ["", "/", "a/b", "..", "x\0y"] {
        assert_eq!(
            kind(SharedMemory::create_named(bad, 8)),
            ErrorKind::InvalidInput,
            "{bad:?}"
        );
        assert_eq!(
            kind(SharedMemory::open(bad)),
            ErrorKind::InvalidInput,
            "{bad:?}"
        );
    }
    assert_eq!(
        kind(SharedMemory::open(&test_name("missing"))),
        ErrorKind::NotFound
    );
    let seg = SharedMemory::create(100).unwrap();
    assert_eq!(
        kind(SharedMemory::open_with_len(seg.name(), 101)),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        SharedMemory::open_with_len(seg.name(), 100).unwrap().len(),
        100
    );
    // A segment that is not ours, and one that lies about its size.
    let foreign = test_name("foreign");
    std::fs::write(format!("/dev/shm/{foreign}"), [0u8; 128]).unwrap();
    assert_eq!(kind(SharedMemory::open(&foreign)), ErrorKind::InvalidData);
    let mut header = std::fs::read(format!("/dev/shm/{}", seg.name())).unwrap();
    header[40..48].copy_from_slice(&u64::MAX.to_ne_bytes()); // the length field
    std::fs::write(format!("/dev/shm/{foreign}"), &header).unwrap();
    assert_eq!(kind(SharedMemory::open(&foreign)), ErrorKind::InvalidData);
    std::fs::remove_file(format!("/dev/shm/{foreign}")).unwrap();
}

#[test]
fn access_errors_close_and_unlink() {
    let mut seg = SharedMemory::create(64).unwrap();
    assert!(matches!(
        seg.write(60, &[0; 8]),
        Err(SegmentError::OutOfBounds(_))
    ));
    assert!(matches!(
        seg.read(usize::MAX, &mut [0; 2]),
        Err(SegmentError::OutOfBounds(_))
    ));
    assert!(matches!(
        seg.atomic_u64(4),
        Err(SegmentError::Misaligned {
            offset: 4,
            align: 8
        })
    ));
    assert!(matches!(
        seg.atomic_u32(64),
        Err(SegmentError::OutOfBounds(_))
    ));
    seg.fill(0, 64, 0xab).unwrap();
    let name = seg.name().to_owned();
    seg.close();
    seg.close();
    assert!(seg.is_closed());
    // The keep mark lives in the segment: a closed handle cannot set it.
    assert_eq!(seg.keep(), Err(SegmentError::Closed));
    assert_eq!(seg.write(0, &[1]), Err(SegmentError::Closed));
    assert!(seg.as_ptr().is_null());
    // Python's order, close() then unlink(), works for the creator.
    let other = SharedMemory::open(&name).unwrap();
    let mut b = [0u8; 1];
    other.read(63, &mut b).unwrap();
    assert_eq!(b, [0xab]);
    seg.unlink().unwrap();
    assert_eq!(seg.unlink().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        SharedMemory::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // The existing mapping stays valid after unlink.
    other.read(0, &mut b).unwrap();
    assert_eq!(b, [0xab]);
}

#[test]
fn forked_child_never_unlinks_the_parents_segment() {
    let mut seg = Some(SharedMemory::create(64).unwrap());
    let name = seg.as_ref().unwrap().name().to_owned();
    fork_child(|| {
        drop(SharedMemory::open(&name).unwrap());
        // The child drops its inherited copy of the creator's handle: no unlink.
        drop(seg.take());
    })
    .assert_success();
    assert_eq!(shm_names(&name), vec![name.clone()]);
    drop(seg);
    assert!(shm_names(&name).is_empty());
}
