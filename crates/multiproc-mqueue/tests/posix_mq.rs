//! `PosixMq` across real processes.
//!
//! Every queue has a unique name (`multiproc-test-<tag>-<pid>-<counter>-<random>`) held by a
//! [`Name`] guard that unlinks it on drop, so a failing test leaks nothing. Children open
//! queues by name or inherit the parent's descriptor; none sleeps for ordering.

use multiproc_internal::testing::{fd_readable, fork_child, test_name, until_asleep, watchdog};
use multiproc_mqueue::{
    PosixMq, PosixMqAttributes, PosixMqOptions, PosixMqRecvError, PosixMqSendError,
};
use std::io::{self, ErrorKind};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A unique queue name, unlinked when the guard drops (also when the test panics).
struct Name(String);

impl Name {
    fn new(tag: &str) -> Name {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Name(test_name(&format!("{tag}-{}-{n}", std::process::id())))
    }

    /// Padded with `x` to `len` bytes (not counting the `/` the queue adds).
    fn padded(tag: &str, len: usize) -> Name {
        let mut name = Name::new(tag);
        assert!(name.0.len() <= len);
        while name.0.len() < len {
            name.0.push('x');
        }
        name
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        match PosixMq::unlink_name(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => eprintln!("cannot unlink {}: {e}", self.0),
        }
    }
}

/// A new queue of `capacity` messages of `size` bytes: small, so that tests running at once
/// stay far below the user's 800 KiB `RLIMIT_MSGQUEUE`.
fn small(name: &Name, capacity: usize, size: usize) -> PosixMq {
    PosixMq::options()
        .exclusive(true)
        .capacity(capacity)
        .message_size(size)
        .open(name.as_str())
        .unwrap()
}

fn sysctl(file: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{file}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn writable(q: &PosixMq, timeout_ms: u16) -> bool {
    use nix::poll::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(q.as_fd(), PollFlags::POLLOUT)];
    poll(&mut fds, timeout_ms).unwrap() > 0
}

fn assert_gone(name: &str) {
    let e = PosixMq::open(name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

/// How long a timed-out wait took, and whether that is at least `asked` and within 0.5 s
/// after.
#[track_caller]
fn assert_waited(start: Instant, asked: Duration) {
    let took = start.elapsed();
    assert!(
        took >= asked && took < asked + Duration::from_millis(500),
        "asked {asked:?}, took {took:?}"
    );
}

#[test]
fn priorities_come_out_highest_first_and_fifo_within_across_processes() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("priorities");
    let q = small(&name, 10, 64);
    let sent: [(&[u8], u32); 8] = [
        (b"a1", 1),
        (b"b1", 5),
        (b"c1", 0),
        (b"b2", 5),
        (b"top", 32_767),
        (b"a2", 1),
        (b"c2", 0),
        (b"b3", 5),
    ];
    fork_child(|| {
        // Opened by name in the child, write-only.
        let tx = PosixMq::options().read(false).open(name.as_str()).unwrap();
        for (m, p) in sent {
            tx.send(m, p).unwrap();
        }
    })
    .assert_success();
    assert_eq!(q.attributes().unwrap().messages, 8);
    let got: Vec<(Vec<u8>, u32)> = (0..8).map(|_| q.try_receive().unwrap()).collect();
    let expected: Vec<(Vec<u8>, u32)> = [
        (&b"top"[..], 32_767),
        (b"b1", 5),
        (b"b2", 5),
        (b"b3", 5),
        (b"a1", 1),
        (b"a2", 1),
        (b"c1", 0),
        (b"c2", 0),
    ]
    .iter()
    .map(|(m, p)| (m.to_vec(), *p))
    .collect();
    assert_eq!(got, expected);
    assert!(matches!(q.try_receive(), Err(PosixMqRecvError::Empty)));
}

#[test]
fn try_receive_on_empty_and_try_send_on_full_would_block() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("would-block");
    let q = small(&name, 2, 16);
    let mut buf = [0; 16];
    assert!(matches!(q.try_receive(), Err(PosixMqRecvError::Empty)));
    assert!(matches!(
        q.try_receive_into(&mut buf),
        Err(PosixMqRecvError::Empty)
    ));
    let empty = io::Error::from(q.try_receive().unwrap_err());
    assert_eq!(empty.kind(), ErrorKind::WouldBlock);
    assert!(empty.to_string().contains("empty"), "{empty}");

    q.try_send(b"1", 0).unwrap();
    q.try_send(b"2", 0).unwrap();
    assert!(matches!(q.try_send(b"3", 0), Err(PosixMqSendError::Full)));
    let full = io::Error::from(q.try_send(b"3", 0).unwrap_err());
    assert_eq!(full.kind(), ErrorKind::WouldBlock);
    assert!(full.to_string().contains("full"), "{full}");

    assert_eq!(q.try_receive_into(&mut buf).unwrap(), (1, 0));
    assert_eq!(&buf[..1], b"1");
    assert_eq!(q.attributes().unwrap().messages, 1);
}

#[test]
fn receive_timeout_waits_at_least_the_timeout() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("receive-timeout");
    let q = small(&name, 2, 16);
    let asked = Duration::from_millis(200);
    let start = Instant::now();
    assert!(matches!(
        q.receive_timeout(asked),
        Err(PosixMqRecvError::Timeout)
    ));
    assert_waited(start, asked);

    let start = Instant::now();
    let mut buf = [0; 16];
    let e = q
        .receive_into_deadline(&mut buf, start + asked)
        .unwrap_err();
    assert_waited(start, asked);
    assert_eq!(io::Error::from(e).kind(), ErrorKind::TimedOut);

    // A zero timeout is a try.
    assert!(matches!(
        q.receive_timeout(Duration::ZERO),
        Err(PosixMqRecvError::Timeout)
    ));
}

#[test]
fn send_timeout_on_a_full_queue_waits_at_least_the_timeout() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("send-timeout");
    let q = small(&name, 1, 16);
    q.send(b"fills it", 0).unwrap();
    let asked = Duration::from_millis(200);
    let start = Instant::now();
    assert!(matches!(
        q.send_timeout(b"no room", 0, asked),
        Err(PosixMqSendError::Timeout)
    ));
    assert_waited(start, asked);

    let start = Instant::now();
    let e = q.send_deadline(b"no room", 0, start + asked).unwrap_err();
    assert_waited(start, asked);
    assert_eq!(io::Error::from(e).kind(), ErrorKind::TimedOut);
    // Nothing was sent.
    assert_eq!(q.attributes().unwrap().messages, 1);
}

#[test]
fn a_message_too_large_or_a_bad_priority_is_a_clear_error() {
    let name = Name::new("too-large");
    let q = small(&name, 2, 64);
    q.send(&[7; 64], 0).unwrap();
    match q.send(&[7; 65], 0) {
        Err(PosixMqSendError::TooLarge { len: 65, max: 64 }) => {}
        other => panic!("{other:?}"),
    }
    let e = io::Error::from(q.try_send(&[7; 65], 0).unwrap_err());
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        "message of 65 bytes exceeds the queue's message size of 64"
    );

    assert_eq!(PosixMq::max_priority(), 32_768);
    match q.send(b"x", 32_768) {
        Err(PosixMqSendError::InvalidPriority {
            priority: 32_768,
            max: 32_768,
        }) => {}
        other => panic!("{other:?}"),
    }

    // A receive buffer must hold the queue's message size, even for a short message.
    let mut short = [0; 63];
    match q.receive_into(&mut short) {
        Err(PosixMqRecvError::BufferTooShort {
            len: 63,
            needed: 64,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(q.attributes().unwrap().messages, 1);
    assert_eq!(q.receive().unwrap(), (vec![7; 64], 0));
}

#[test]
fn creating_exclusively_twice_is_already_exists() {
    let name = Name::new("exclusive");
    let first = small(&name, 3, 32);
    let e = PosixMq::create(name.as_str()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(e.to_string().contains(name.as_str()), "{e}");
    // Without `exclusive`, `create` opens the existing queue as it is.
    let second = PosixMq::options()
        .create(true)
        .capacity(5)
        .message_size(100)
        .open(name.as_str())
        .unwrap();
    assert_eq!((second.capacity(), second.message_size()), (3, 32));
    second.send(b"shared", 1).unwrap();
    assert_eq!(first.receive().unwrap(), (b"shared".to_vec(), 1));
}

#[test]
fn opening_a_missing_queue_is_not_found() {
    let name = Name::new("missing");
    let e = PosixMq::open(name.as_str()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), format!("no message queue named /{}", name.0));
    let e = PosixMq::unlink_name(name.as_str()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn attributes_above_the_system_limits_name_the_limit() {
    let name = Name::new("over-limit");
    let msg_max = sysctl("msg_max");
    let msgsize_max = sysctl("msgsize_max");
    let try_open = |capacity: usize, size: usize| {
        PosixMq::options()
            .exclusive(true)
            .capacity(capacity)
            .message_size(size)
            .open(name.as_str())
    };
    let open = |capacity: usize, size: usize| try_open(capacity, size).map(drop).unwrap_err();
    // Above the kernel's hard limit: refused even with CAP_SYS_RESOURCE.
    let e = open(65_537, 64);
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("/proc/sys/fs/mqueue/msg_max = {msg_max}")),
        "{text}"
    );
    assert!(text.contains("capacity 65537"), "{text}");

    let e = open(1, 16 * 1024 * 1024 + 1);
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("/proc/sys/fs/mqueue/msgsize_max = {msgsize_max}")),
        "{e}"
    );

    // Just above the sysctl: refused, unless the kernel counts this process as holding
    // CAP_SYS_RESOURCE (a CapEff bit is not enough: in a user namespace it is not).
    match try_open(msg_max + 1, 64) {
        Ok(q) => q.unlink().unwrap(),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            let limit = format!("/proc/sys/fs/mqueue/msg_max = {msg_max}");
            assert!(e.to_string().contains(&limit), "{e}");
        }
    }
    assert_gone(name.as_str());
}

#[test]
fn the_user_queue_memory_limit_is_a_clear_error() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("rlimit");
    fork_child(|| {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads one live rlimit; it lowers this (child) process's limit.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_MSGQUEUE, &zero) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        let e = PosixMq::options()
            .exclusive(true)
            .capacity(2)
            .message_size(64)
            .open(name.as_str())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded, "{e}");
        let text = e.to_string();
        assert!(text.contains("RLIMIT_MSGQUEUE"), "{text}");
        assert!(text.contains("0 bytes"), "{text}");
    })
    .assert_success();
    assert_gone(name.as_str());
}

#[test]
fn after_unlink_the_name_is_gone_and_handles_keep_working() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("unlink");
    let q = small(&name, 4, 32);
    let other = PosixMq::open(name.as_str()).unwrap();
    q.unlink().unwrap();
    assert_gone(name.as_str());
    assert_eq!(q.unlink().unwrap_err().kind(), ErrorKind::NotFound);
    // The queue lives on for its open descriptors, in a child too.
    fork_child(|| other.send(b"after unlink", 2).unwrap()).assert_success();
    assert_eq!(q.receive().unwrap(), (b"after unlink".to_vec(), 2));

    // The associated function, on a name given with its slash.
    let name2 = Name::new("unlink-name");
    drop(small(&name2, 1, 8));
    PosixMq::unlink_name(&format!("/{}", name2.0)).unwrap();
    assert_gone(name2.as_str());
}

#[test]
fn a_blocked_receiver_in_a_child_is_released_by_a_send() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("blocked-receiver");
    let q = small(&name, 4, 64);
    let child = fork_child(|| {
        assert_eq!(q.receive().unwrap(), (b"wake up".to_vec(), 3));
    });
    until_asleep(child.pid());
    q.send(b"wake up", 3).unwrap();
    child.assert_success();
    assert_eq!(q.attributes().unwrap().messages, 0);
}

#[test]
fn a_blocked_sender_in_a_child_is_released_by_a_receive() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("blocked-sender");
    let q = small(&name, 1, 64);
    q.send(b"first", 0).unwrap();
    let child = fork_child(|| q.send(b"second", 0).unwrap());
    until_asleep(child.pid());
    assert_eq!(q.receive().unwrap().0, b"first");
    child.assert_success();
    assert_eq!(q.receive().unwrap().0, b"second");
}

#[test]
fn many_messages_through_a_small_queue_between_processes() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("many");
    let q = small(&name, 4, 16);
    let producers: Vec<_> = (0u8..2)
        .map(|id| {
            let q = &q;
            fork_child(move || {
                for seq in 0u32..500 {
                    let mut m = vec![id];
                    m.extend_from_slice(&seq.to_le_bytes());
                    q.send(&m, 0).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u32; 2];
    let mut buf = vec![0; q.message_size()];
    for _ in 0..1000 {
        let (len, priority) = q
            .receive_into_timeout(&mut buf, Duration::from_secs(10))
            .unwrap();
        assert_eq!((len, priority), (5, 0));
        let id = usize::from(buf[0]);
        let seq = u32::from_le_bytes(buf[1..5].try_into().unwrap());
        assert_eq!(seq, next[id], "producer {id} out of order");
        next[id] += 1;
    }
    for p in producers {
        p.assert_success();
    }
    assert_eq!(next, [500, 500]);
    assert!(matches!(q.try_receive(), Err(PosixMqRecvError::Empty)));
}

#[test]
fn the_descriptor_polls_readable_and_writable() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("poll");
    let q = small(&name, 1, 16);
    assert!(!fd_readable(q.as_fd(), Duration::ZERO));
    assert!(writable(&q, 0));
    // A send in another process wakes a poll that is already waiting.
    let child = fork_child(|| {
        let tx = PosixMq::open(name.as_str()).unwrap();
        tx.send(b"ready", 0).unwrap();
    });
    assert!(fd_readable(q.as_fd(), Duration::from_secs(10)));
    child.assert_success();
    assert!(!writable(&q, 0)); // full: capacity 1
    assert_eq!(q.try_receive().unwrap().0, b"ready");
    assert!(!fd_readable(q.as_fd(), Duration::ZERO));
    assert!(writable(&q, 0));
}

#[test]
fn a_queue_outlives_its_creator() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("outlives");
    fork_child(|| {
        let q = small(&name, 4, 32);
        q.send(b"left behind", 1).unwrap();
        q.send(b"me too", 1).unwrap();
    })
    .assert_success();
    let q = PosixMq::open(name.as_str()).unwrap();
    assert_eq!((q.capacity(), q.message_size()), (4, 32));
    assert_eq!(q.receive().unwrap().0, b"left behind");
    assert_eq!(q.receive().unwrap().0, b"me too");
    q.close().unwrap();
    // Closing is not unlinking.
    PosixMq::open(name.as_str()).unwrap();
}

#[test]
fn names_get_their_slash_and_bad_names_are_refused() {
    let name = Name::new("names");
    let q = small(&name, 1, 8);
    assert_eq!(q.name(), format!("/{}", name.0));
    let same = PosixMq::open(&format!("/{}", name.0)).unwrap();
    same.send(b"x", 0).unwrap();
    assert_eq!(q.receive().unwrap().0, b"x");

    let longest = Name::padded("longest", 255);
    let q = small(&longest, 1, 8);
    assert_eq!(q.name().len(), 256);

    let too_long = Name::padded("too-long", 256);
    for bad in [
        "",
        "/",
        "a/b",
        "/a/b",
        "x\0y",
        ".",
        "/..",
        too_long.as_str(),
    ] {
        let e = PosixMq::options()
            .create(true)
            .capacity(1)
            .message_size(8)
            .open(bad)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        assert!(e.to_string().contains("invalid message queue name"), "{e}");
    }
    let e = PosixMq::open(too_long.as_str()).unwrap_err();
    assert!(e.to_string().contains("NAME_MAX = 255"), "{e}");
}

#[test]
fn options_are_checked_and_access_is_enforced() {
    let name = Name::new("options");
    let invalid = |o: &PosixMqOptions| {
        let e = o.open(name.as_str()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    };
    invalid(PosixMq::options().create(true).read(false).write(false));
    invalid(PosixMq::options().create(true).mode(0o4600));
    invalid(PosixMq::options().create(true).capacity(0));
    invalid(PosixMq::options().create(true).message_size(0));
    invalid(PosixMq::options().capacity(4)); // not creating
    assert_gone(name.as_str());

    let q = small(&name, 2, 8);
    let reader = PosixMq::options().write(false).open(name.as_str()).unwrap();
    let writer = PosixMq::options().read(false).open(name.as_str()).unwrap();
    match reader.send(b"no", 0) {
        Err(PosixMqSendError::Io(e)) => assert_eq!(e.kind(), ErrorKind::PermissionDenied),
        other => panic!("{other:?}"),
    }
    match writer.try_receive() {
        Err(PosixMqRecvError::Io(e)) => assert_eq!(e.kind(), ErrorKind::PermissionDenied),
        other => panic!("{other:?}"),
    }
    writer.send(b"yes", 0).unwrap();
    assert_eq!(reader.receive().unwrap().0, b"yes");
    assert_eq!(
        q.attributes().unwrap(),
        PosixMq::open(name.as_str()).unwrap().attributes().unwrap()
    );
}

#[test]
fn nonblocking_handles_never_wait() {
    let _watchdog = watchdog(Duration::from_secs(60));
    let name = Name::new("nonblocking");
    let q = PosixMq::options()
        .exclusive(true)
        .capacity(1)
        .message_size(8)
        .nonblocking(true)
        .open(name.as_str())
        .unwrap();
    let start = Instant::now();
    assert!(matches!(q.receive(), Err(PosixMqRecvError::Empty)));
    assert!(matches!(
        q.receive_timeout(Duration::from_secs(30)),
        Err(PosixMqRecvError::Empty)
    ));
    q.send(b"1", 0).unwrap();
    assert!(matches!(q.send(b"2", 0), Err(PosixMqSendError::Full)));
    assert!(matches!(
        q.send_timeout(b"2", 0, Duration::from_secs(30)),
        Err(PosixMqSendError::Full)
    ));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(q.receive().unwrap().0, b"1");
}

#[test]
fn default_attributes_are_the_kernels() {
    let name = Name::new("defaults");
    let q = PosixMq::create(name.as_str()).unwrap();
    let capacity = sysctl("msg_default").min(sysctl("msg_max"));
    let size = sysctl("msgsize_default").min(sysctl("msgsize_max"));
    let PosixMqAttributes {
        capacity: c,
        message_size: s,
        messages: m,
        ..
    } = q.attributes().unwrap();
    assert_eq!((c, s, m), (capacity, size, 0));
    assert_eq!((q.capacity(), q.message_size()), (capacity, size));
    q.send(&vec![1; size], 0).unwrap();
    let (m, _) = q.receive().unwrap();
    assert_eq!(m.len(), size);
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PosixMq>();
    send_sync::<PosixMqOptions>();
    send_sync::<PosixMqAttributes>();
    send_sync::<PosixMqSendError>();
    send_sync::<PosixMqRecvError>();
}
