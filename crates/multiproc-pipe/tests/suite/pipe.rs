//! Connections across real processes: messages of every size both ways, typed and raw, peer
//! death, oversize announcements, timeouts, poll and wait.

use crate::transport::{pipe, pipe_simplex};
use multiproc_internal::testing::{fd_readable, fork_child, until_asleep, watchdog, ChildExit};
use multiproc_pipe::{wait, Connection, RecvError, SendError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The longest any test here may take: a hang aborts the run instead.
const WATCHDOG: Duration = Duration::from_secs(120);

const SIZES: &[usize] = &[
    0,
    1,
    4095,
    4096,
    4097,
    65535,
    65536,
    65537,
    16 << 20,
    256 << 20,
];

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn bytes_of_every_size_both_ways_across_processes() {
    let _dog = watchdog(WATCHDOG);
    let (mut parent, mut child_end) = pipe().unwrap();
    let child = fork_child(|| {
        drop(std::mem::replace(&mut parent, pipe().unwrap().0));
        for (i, &n) in SIZES.iter().enumerate() {
            let got = child_end.recv_bytes().unwrap();
            assert_eq!(got.len(), n);
            assert!(
                got == pattern(n, i as u8),
                "message {i} of {n} bytes differs"
            );
            child_end.send_bytes(&pattern(n, i as u8 + 100)).unwrap();
        }
    });
    drop(child_end); // the child's end lives in the child only
    for (i, &n) in SIZES.iter().enumerate() {
        parent.send_bytes(&pattern(n, i as u8)).unwrap();
        let back = parent.recv_bytes().unwrap();
        assert!(
            back == pattern(n, i as u8 + 100),
            "reply {i} of {n} bytes differs"
        );
    }
    child.assert_success();
    // The child is gone and its end with it.
    assert!(matches!(parent.recv_bytes(), Err(RecvError::Disconnected)));
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    id: u64,
    who: String,
    lines: Vec<(String, u32)>,
    notes: Option<BTreeMap<String, Vec<i16>>>,
    kind: Kind,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Kind {
    Rush { by: u32 },
    Normal,
}

fn order(i: u64) -> Order {
    Order {
        id: i,
        who: format!("client {i}"),
        lines: (0..i % 5)
            .map(|j| (format!("item {j}"), j as u32))
            .collect(),
        notes: i
            .is_multiple_of(2)
            .then(|| BTreeMap::from([("n".to_string(), vec![-1, i as i16])])),
        kind: if i.is_multiple_of(3) {
            Kind::Rush { by: i as u32 }
        } else {
            Kind::Normal
        },
    }
}

#[test]
fn typed_messages_many_in_a_row_through_a_simplex_pipe() {
    let _dog = watchdog(WATCHDOG);
    const N: u64 = 20_000;
    let (mut rx, mut tx) = pipe_simplex().unwrap();
    let child = fork_child(|| {
        for i in 0..N {
            tx.send(&order(i)).unwrap();
        }
    });
    drop(tx);
    for i in 0..N {
        assert_eq!(rx.recv::<Order>().unwrap(), order(i));
    }
    child.assert_success();
    assert!(matches!(rx.recv::<Order>(), Err(RecvError::Disconnected)));
}

#[test]
fn a_message_of_another_type_is_an_error_and_the_connection_survives() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    a.send(&(1u32, 2u32)).unwrap();
    assert!(matches!(
        b.recv::<u32>(),
        Err(RecvError::TrailingBytes { extra: 1 })
    ));
    a.send(&[0xffu8; 3]).unwrap();
    assert!(matches!(b.recv::<bool>(), Err(RecvError::Decode(_))));
    a.send(&"still fine").unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "still fine");
}

#[test]
fn recv_bytes_into_a_short_buffer_hands_the_message_back() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    a.send_bytes(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    match b.recv_bytes_into(&mut small) {
        Err(RecvError::BufferTooShort(m)) => assert_eq!(m, b"0123456789"),
        other => panic!("{other:?}"),
    }
    a.send_bytes(b"abc").unwrap();
    assert_eq!(b.recv_bytes_into(&mut small).unwrap(), 3);
    assert_eq!(&small[..3], b"abc");
}

#[test]
fn poll_try_recv_and_timeouts() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    assert!(!b.poll(Duration::ZERO).unwrap());
    assert!(matches!(b.try_recv_bytes(), Err(RecvError::Empty)));
    let start = Instant::now();
    assert!(!b.poll(Duration::from_millis(100)).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(100));
    let start = Instant::now();
    assert!(matches!(
        b.recv_timeout::<u8>(Duration::from_millis(200)),
        Err(RecvError::Timeout)
    ));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "{took:?}"
    );
    let child = fork_child(|| a.send(&7u8).unwrap());
    assert!(b.poll(Duration::from_secs(20)).unwrap());
    assert_eq!(
        b.recv_deadline::<u8>(Instant::now() + Duration::from_secs(20))
            .unwrap(),
        7
    );
    child.assert_success();
}

#[test]
fn wait_on_several_returns_the_ready_ones() {
    let _dog = watchdog(WATCHDOG);
    let ends: Vec<(Connection, Connection)> = (0..4).map(|_| pipe().unwrap()).collect();
    let (mut senders, receivers): (Vec<_>, Vec<_>) = ends.into_iter().unzip();
    assert_eq!(
        wait(&receivers, Some(Duration::ZERO)).unwrap(),
        Vec::<usize>::new()
    );
    let start = Instant::now();
    assert!(wait(&receivers, Some(Duration::from_millis(100)))
        .unwrap()
        .is_empty());
    assert!(start.elapsed() >= Duration::from_millis(100));
    let child = fork_child(|| {
        senders[1].send_bytes(b"one").unwrap();
        senders[3].send_bytes(b"three").unwrap();
    });
    child.assert_success();
    assert_eq!(wait(&receivers, None).unwrap(), [1, 3]);
    // A gone peer counts as ready too (a receive then reports it at once).
    drop(senders.remove(0));
    assert_eq!(wait(&receivers, None).unwrap(), [0, 1, 3]);
}

#[test]
fn a_dropped_or_killed_peer_is_reported_within_a_second() {
    let _dog = watchdog(WATCHDOG);
    // Dropped: every message sent before is still received.
    let (mut a, mut b) = pipe().unwrap();
    a.send(&1u8).unwrap();
    drop(a);
    assert_eq!(b.recv::<u8>().unwrap(), 1);
    assert!(matches!(b.recv::<u8>(), Err(RecvError::Disconnected)));
    assert!(
        matches!(b.send(&2u8), Err(SendError::Disconnected)),
        "no SIGPIPE"
    );

    // Killed while streaming small messages.
    let (mut a, mut b) = pipe().unwrap();
    let child = fork_child(|| loop {
        a.send(&[7u8; 32]).unwrap();
    });
    drop(a);
    for _ in 0..1000 {
        assert_eq!(b.recv::<[u8; 32]>().unwrap(), [7; 32]);
    }
    child.kill().unwrap();
    let killed = Instant::now();
    loop {
        match b.recv::<[u8; 32]>() {
            Ok(m) => assert_eq!(m, [7; 32]),
            Err(RecvError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(killed.elapsed() < Duration::from_secs(1));
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGKILL));
}

#[test]
fn a_peer_killed_halfway_through_a_large_message_never_yields_a_torn_one() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let child = fork_child(|| {
        a.send_bytes(&pattern(64 << 20, 1)).unwrap();
        unreachable!("nobody reads: the send blocks until the kill");
    });
    drop(a);
    // Blocked in sendmsg: the socket buffer is full, part of the message is in flight.
    until_asleep(child.pid());
    child.kill().unwrap();
    let killed = Instant::now();
    assert!(matches!(b.recv_bytes(), Err(RecvError::Disconnected)));
    assert!(killed.elapsed() < Duration::from_secs(1));
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGKILL));
}

#[test]
fn a_message_over_the_receivers_cap_closes_the_connection_before_allocating() {
    let _dog = watchdog(WATCHDOG);
    // A cap the receiver set lower than the sender's.
    let (mut a, mut b) = pipe().unwrap();
    b.set_max_message_size(1 << 20);
    let sender = std::thread::spawn(move || {
        // The receiver closes the connection after the header: the rest cannot go.
        let r = a.send_bytes(&vec![0u8; 2 << 20]);
        assert!(matches!(r, Err(SendError::Disconnected)), "{r:?}");
        a
    });
    assert!(matches!(
        b.recv_bytes(),
        Err(RecvError::TooLarge { len, .. }) if len == 2 << 20
    ));
    let mut a = sender.join().unwrap();
    // And the sender's own cap, checked before sending anything.
    a.set_max_message_size(10);
    assert!(matches!(
        a.send_bytes(&[0; 11]),
        Err(SendError::TooLarge { len: 11, max: 10 })
    ));
}

#[test]
fn bounds() {
    let _dog = watchdog(WATCHDOG);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Connection>();
    send_sync::<multiproc_pipe::Sender>();
    send_sync::<multiproc_pipe::Receiver>();
    send_sync::<RecvError>();
    send_sync::<SendError>();
}

#[test]
fn messages_read_ahead_are_seen_by_poll_and_wait() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let (_c, d) = pipe().unwrap();
    for i in 0..3u8 {
        a.send(&i).unwrap();
    }
    // One read takes all three; the socket is then empty but two messages wait.
    assert_eq!(b.recv::<u8>().unwrap(), 0);
    assert!(b.poll(Duration::ZERO).unwrap());
    assert_eq!(wait(&[&d, &b], Some(Duration::from_secs(5))).unwrap(), [1]);
    assert_eq!(b.try_recv::<u8>().unwrap(), 1);
    assert_eq!(b.recv_timeout::<u8>(Duration::ZERO).unwrap(), 2);
    assert!(matches!(b.try_recv::<u8>(), Err(RecvError::Empty)));
    assert!(wait(&[&d, &b], Some(Duration::ZERO)).unwrap().is_empty());
}

#[test]
fn recv_bytes_into_of_every_size_from_another_process() {
    let _dog = watchdog(WATCHDOG);
    let (mut rx, mut tx) = pipe_simplex().unwrap();
    let child = fork_child(|| {
        for (i, &n) in SIZES.iter().enumerate().take(9) {
            tx.send_bytes(&pattern(n, i as u8)).unwrap();
            tx.send_bytes(b"small one after it").unwrap();
        }
    });
    drop(tx);
    let mut buf = vec![0u8; 16 << 20];
    for (i, &n) in SIZES.iter().enumerate().take(9) {
        assert_eq!(rx.recv_bytes_into(&mut buf).unwrap(), n);
        assert!(
            buf[..n] == pattern(n, i as u8),
            "message {i} of {n} bytes differs"
        );
        let mut small = [0u8; 64];
        let k = rx.recv_bytes_into(&mut small).unwrap();
        assert_eq!(&small[..k], b"small one after it");
    }
    child.assert_success();
}

/// CPU time this thread has used, from the scheduler's own count (nanoseconds).
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn waiting_on_an_idle_peer_costs_no_cpu_after_a_few_waits() {
    let _dog = watchdog(WATCHDOG);
    // In a child, so that no other test's thread shares the count.
    fork_child(|| {
        let (_idle, mut b) = pipe().unwrap();
        let ms = Duration::from_millis(1);
        // What 1 ms waits cost here without any spin (`wait` only polls), measured in turns
        // with the receives so that the machine's load weighs on both alike.
        let (mut polls, mut receives) = (0, 0);
        for _ in 0..400 {
            let start = thread_cpu_ns();
            assert!(wait(&[&b], Some(ms)).unwrap().is_empty());
            let mid = thread_cpu_ns();
            assert!(matches!(b.recv_bytes_timeout(ms), Err(RecvError::Timeout)));
            let end = thread_cpu_ns();
            polls += mid - start;
            receives += end - mid;
        }
        // Spinning at every wait would add 400 × 50 µs = 20 ms; the spin stops after a few
        // fruitless ones (what is left: a non-blocking read per wait, a probe every 16 waits).
        let extra = Duration::from_nanos(receives.saturating_sub(polls));
        assert!(
            extra < Duration::from_millis(10),
            "receives {receives} ns, polls {polls} ns of CPU"
        );
    })
    .assert_success();
}

#[test]
fn the_pipes_use_the_transport_asked_for() {
    let _dog = watchdog(WATCHDOG);
    let (a, b) = pipe().unwrap();
    let (rx, tx) = pipe_simplex().unwrap();
    let want = crate::transport::TRANSPORT;
    assert_eq!(
        [a.transport(), b.transport(), rx.transport(), tx.transport()],
        [want; 4]
    );
    assert!(format!("{a:?}").contains(&format!("{want:?}")));
}

#[test]
fn the_fd_announces_messages_to_an_event_loop() {
    use std::os::fd::AsFd;
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let child = fork_child(|| {
        // A fresh end, never received on: its first message is announced.
        a.send(&1u8).unwrap();
        // Then one message per request, until told to stop (this process holds a copy of
        // `b` too: it would never see the parent's end close).
        loop {
            let n = a.recv::<u8>().unwrap();
            if n == u8::MAX {
                return;
            }
            a.send(&n).unwrap();
        }
    });
    for round in 0..50u8 {
        assert!(
            fd_readable(b.as_fd(), Duration::from_secs(10)),
            "round {round}: a message waits and the fd says nothing"
        );
        // Drain until Empty, as the contract says; then wait on the fd again.
        let mut got = Vec::new();
        loop {
            match b.try_recv::<u8>() {
                Ok(n) => got.push(n),
                Err(RecvError::Empty) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(
            !got.is_empty(),
            "round {round}: readable with nothing to receive"
        );
        b.send(&round).unwrap();
    }
    b.send(&u8::MAX).unwrap();
    child.assert_success();
}

#[test]
fn sends_to_a_killed_peer_fail_soon() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let child = fork_child(|| loop {
        // Awake and busy: never sleeping, so it never asks to be woken.
        let _ = b.try_recv_bytes();
    });
    drop(b);
    a.send_bytes(b"first").unwrap();
    child.kill().unwrap();
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGKILL));
    let killed = Instant::now();
    let mut sent = 0;
    let error = loop {
        match a.send_bytes(&[1; 100]) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 1000, "1000 sends to a dead peer succeeded");
    };
    assert!(matches!(error, SendError::Disconnected), "{error:?}");
    assert!(killed.elapsed() < Duration::from_secs(1));
    // The receiving side knows too.
    assert!(matches!(a.recv_bytes(), Err(RecvError::Disconnected)));
}

#[test]
fn forked_copies_of_an_end_may_take_turns() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    a.send_bytes(b"from the parent").unwrap();
    // The child's copy of `a` continues after the parent's message.
    let child = fork_child(|| a.send_bytes(b"from the child").unwrap());
    child.assert_success();
    assert_eq!(b.recv_bytes().unwrap(), b"from the parent");
    assert_eq!(b.recv_bytes().unwrap(), b"from the child");
    if b.transport() == multiproc_pipe::Transport::Socket {
        return; // a socket end reads ahead: receiving ends cannot take turns
    }
    a.send_bytes(b"first").unwrap();
    a.send_bytes(b"second").unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"first");
    // A child's copy of `b` continues after what the parent received.
    let child = fork_child(|| assert_eq!(b.recv_bytes().unwrap(), b"second"));
    child.assert_success();
    a.send_bytes(b"third").unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"third");
}

#[test]
fn a_peer_killed_while_spinning_or_sleeping_is_reported_within_a_second() {
    let _dog = watchdog(WATCHDOG);
    for sleeping in [false, true] {
        let (mut a, mut b) = pipe().unwrap();
        let child = fork_child(|| {
            b.send(&0u8).unwrap();
            if sleeping {
                let _ = b.recv::<u8>(); // nothing comes: it sleeps
            } else {
                loop {
                    let _ = b.try_recv::<u8>(); // awake, looking all the time
                }
            }
        });
        drop(b);
        assert_eq!(a.recv::<u8>().unwrap(), 0);
        if sleeping {
            until_asleep(child.pid());
        }
        child.kill().unwrap();
        let killed = Instant::now();
        assert!(matches!(a.recv::<u8>(), Err(RecvError::Disconnected)));
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "sleeping: {sleeping}"
        );
        assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGKILL));
    }
}
