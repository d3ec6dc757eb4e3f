//! The shared block: headers, fd transfer, named objects, creator-only side effects.

use multiproc_internal::block::{sweep_stale, validate_name, Layout, SharedBlock, HEADER_LEN};
use multiproc_internal::fdpass::{recv_fds, send_fds};
use multiproc_internal::testing::{fds_matching, fork_child, shm_names, test_name};
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;

const MAGIC: u64 = u64::from_le_bytes(*b"MPTEST\0\0");

fn layout(len: u64) -> Layout {
    Layout {
        magic: MAGIC,
        version: 1,
        elem_size: 8,
        elem_align: 8,
        len,
    }
}

#[test]
fn memfd_sent_to_a_child_started_before_it_existed() {
    let (parent_sock, child_sock) = UnixStream::pair().unwrap();
    // The child exists before the block does, so it cannot have inherited it.
    let child = fork_child(|| {
        let mut buf = [0u8; 1];
        let (n, mut fds) = recv_fds(child_sock.as_fd(), &mut buf, 1).unwrap();
        assert_eq!((n, fds.len()), (1, 1));
        let (b, len) = SharedBlock::from_fd(fds.pop().unwrap(), MAGIC, 1, (8, 8)).unwrap();
        assert_eq!(len, 4);
        let w = b.atomic_u64(HEADER_LEN).unwrap();
        assert_eq!(w.load(Ordering::Acquire), 0xfeed);
        w.store(0xbeef, Ordering::Release);
    });
    let b = SharedBlock::create_anonymous("test-fdpass", &layout(4), 32).unwrap();
    b.atomic_u64(HEADER_LEN)
        .unwrap()
        .store(0xfeed, Ordering::Release);
    send_fds(parent_sock.as_fd(), b"x", &[b.fd()]).unwrap();
    child.assert_success();
    assert_eq!(
        b.atomic_u64(HEADER_LEN).unwrap().load(Ordering::Acquire),
        0xbeef
    );
}

#[test]
fn surplus_fds_are_an_error_and_closed() {
    let (a, b) = UnixStream::pair().unwrap();
    let blk = SharedBlock::create_anonymous("test-fdpass-surplus", &layout(1), 8).unwrap();
    let before = fds_matching("multiproc-test-fdpass-surplus").len();
    // 2 fds fit the rounded-up control buffer for 1; 8 do not (MSG_CTRUNC).
    for n in [2, 8] {
        send_fds(a.as_fd(), b"x", &vec![blk.fd(); n]).unwrap();
        let mut buf = [0u8; 1];
        let err = recv_fds(b.as_fd(), &mut buf, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{n} fds");
        assert_eq!(
            fds_matching("multiproc-test-fdpass-surplus").len(),
            before,
            "{n} fds"
        );
    }
    assert_eq!(
        send_fds(a.as_fd(), b"", &[]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn unsealed_or_foreign_fds_are_refused() {
    let f = std::fs::File::open("/proc/self/stat").unwrap();
    let err = SharedBlock::from_fd(f.into(), MAGIC, 1, (8, 8)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    // Right seals, wrong magic.
    let b = SharedBlock::create_anonymous("test-wrong-magic", &layout(1), 8).unwrap();
    let fd = b.fd().try_clone_to_owned().unwrap();
    let err = SharedBlock::from_fd(fd, MAGIC + 1, 1, (8, 8)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let fd = b.fd().try_clone_to_owned().unwrap();
    let err = SharedBlock::from_fd(fd, MAGIC, 2, (8, 8)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let fd = b.fd().try_clone_to_owned().unwrap();
    let err = SharedBlock::from_fd(fd, MAGIC, 1, (4, 4)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
}

#[test]
fn named_create_open_and_creator_only_unlink() {
    let name = test_name("block");
    let b = SharedBlock::create_named(Some(&name), &layout(2), 16).unwrap();
    assert_eq!(shm_names(&name), vec![name.clone()]);
    // A forked child dropping its inherited copy must not unlink the parent's name.
    fork_child(|| drop(SharedBlock::open_named(&name, MAGIC, 1, (8, 8)).unwrap())).assert_success();
    let b2 = std::thread::scope(|_| SharedBlock::open_named(&name, MAGIC, 1, (8, 8)).unwrap());
    fork_child(|| {
        let copy = &b;
        let _ = copy.name();
    })
    .assert_success();
    assert_eq!(b2.1, 2);
    drop(b2);
    assert_eq!(
        shm_names(&name),
        vec![name.clone()],
        "an opener must never unlink"
    );
    assert_eq!(
        SharedBlock::create_named(Some(&name), &layout(2), 16)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    drop(b);
    assert!(shm_names(&name).is_empty(), "creator's drop unlinks");
    assert_eq!(
        SharedBlock::open_named(&name, MAGIC, 1, (8, 8))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn symlink_squatting_is_already_exists() {
    let name = test_name("squat");
    let target = format!("/tmp/{name}-target");
    std::fs::write(&target, b"victim").unwrap();
    std::os::unix::fs::symlink(&target, format!("/dev/shm/{name}")).unwrap();
    let err = SharedBlock::create_named(Some(&name), &layout(1), 8).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"victim",
        "the squatter's file was touched"
    );
    // Opening does not follow it either.
    assert!(SharedBlock::open_named(&name, MAGIC, 1, (8, 8)).is_err());
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    std::fs::remove_file(&target).unwrap();
}

#[test]
fn bad_names_and_sizes_are_clear_errors() {
    for bad in ["", "/", "a/b", "..", ".", "x\0y"] {
        assert_eq!(
            validate_name(bad).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad:?}"
        );
    }
    assert_eq!(
        validate_name(&"n".repeat(201)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(validate_name("/ok").unwrap(), "ok");
    let e = SharedBlock::create_anonymous("test-zero", &layout(0), 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = SharedBlock::create_anonymous("test-huge", &layout(0), usize::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = SharedBlock::create_anonymous("test-too-big", &layout(0), 1 << 50).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
}

#[test]
fn objects_are_private_to_their_user() {
    use std::os::unix::fs::PermissionsExt;
    let anon = SharedBlock::create_anonymous("test-mode", &layout(1), 8).unwrap();
    let fd = anon.fd().try_clone_to_owned().unwrap();
    let mode = std::fs::File::from(fd)
        .metadata()
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let name = test_name("mode");
    let _named = SharedBlock::create_named(Some(&name), &layout(1), 8).unwrap();
    let mode = std::fs::metadata(format!("/dev/shm/{name}"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn drop_releases_fd_and_mapping() {
    let tag = test_name("fdleak");
    for _ in 0..100 {
        let b = SharedBlock::create_anonymous(&tag["multiproc-".len()..], &layout(1), 8).unwrap();
        assert_eq!(fds_matching(&tag).len(), 1);
        drop(b);
    }
    assert!(fds_matching(&tag).is_empty());
}

fn mapped(tag: &str) -> bool {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .contains(tag)
}

#[test]
fn a_block_holding_a_locked_lock_is_never_unmapped() {
    let small = layout(8);
    let held = test_name("held-unmap");
    let b = SharedBlock::create_anonymous(&held["multiproc-".len()..], &small, 128).unwrap();
    let lock = b.init_robust_mutex(64).unwrap();
    assert!(lock.lock(None).is_ok()); // and never unlocked: a leaked guard
    drop(b);
    assert!(mapped(&held), "a mapping with a held lock was unmapped");
    let released = test_name("released-unmap");
    let b = SharedBlock::create_anonymous(&released["multiproc-".len()..], &small, 128).unwrap();
    let lock = b.init_robust_mutex(64).unwrap();
    assert!(lock.lock(None).is_ok());
    assert!(lock.unlock());
    drop(b);
    assert!(
        !mapped(&released),
        "a mapping without held locks was not unmapped"
    );
}

#[test]
fn creators_with_non_utf8_names_count_as_alive() {
    let name = test_name("odd-comm");
    let flag = SharedBlock::create_anonymous("test-flag", &layout(1), 8).unwrap();
    let ready = flag.atomic_u64(HEADER_LEN).unwrap();
    let creator = fork_child(|| {
        // The kernel keeps 15 bytes of a name and may cut a UTF-8 character in two.
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"proc-donn\xc3".as_ptr()) };
        let _b = SharedBlock::create_named(Some(&name), &layout(1), 8).unwrap();
        ready.store(1, Ordering::Release);
        loop {
            std::thread::park();
        }
    });
    multiproc_internal::testing::wait_until("the creator", || ready.load(Ordering::Acquire) == 1);
    assert!(
        sweep_stale(&[MAGIC], &name).unwrap().is_empty(),
        "a live creator's object was removed"
    );
    creator.kill().unwrap();
    creator.wait();
    assert_eq!(sweep_stale(&[MAGIC], &name).unwrap(), vec![name.clone()]);
}
