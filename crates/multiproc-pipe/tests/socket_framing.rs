//! The socket transport's framing against a peer that writes raw bytes on the socket:
//! partial frames, oversize and huge announcements, fds that no header claims or that never
//! come. (The shared-memory transport's equivalents are the unit tests of its module: a
//! forged ring needs its internals.)

use multiproc_internal::testing::watchdog;
use multiproc_pipe::{Connection, PipeBuilder, RecvError, Transport};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn pipe() -> std::io::Result<(Connection, Connection)> {
    PipeBuilder::new().transport(Transport::Socket).duplex()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A raw view of an end's socket, to play a peer that breaks the protocol.
fn raw(end: &impl AsFd) -> UnixStream {
    UnixStream::from(end.as_fd().try_clone_to_owned().unwrap())
}

#[test]
fn an_oversize_announcement_closes_the_connection_before_allocating() {
    let _dog = watchdog(Duration::from_secs(60));
    // 2^48 - 1 bytes announced (the most a header can say): allocating it would abort the
    // process.
    let (a, mut b) = pipe().unwrap();
    let huge = multiproc_pipe::MAX_MESSAGE_LIMIT;
    raw(&a).write_all(&huge.to_le_bytes()).unwrap();
    match b.recv_bytes() {
        Err(RecvError::TooLarge { len, max }) => {
            assert_eq!((len, max), (huge, multiproc_pipe::DEFAULT_MAX_MESSAGE));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(b.recv_bytes(), Err(RecvError::Disconnected)));
}

#[test]
fn a_timeout_in_the_middle_of_a_message_loses_nothing() {
    let _dog = watchdog(Duration::from_secs(60));
    let (a, mut b) = pipe().unwrap();
    let mut peer = raw(&a);
    let body = pattern(1000, 9);
    peer.write_all(&(body.len() as u64).to_le_bytes()).unwrap();
    peer.write_all(&body[..400]).unwrap();
    assert!(matches!(
        b.recv_bytes_timeout(Duration::from_millis(50)),
        Err(RecvError::Timeout)
    ));
    assert!(matches!(b.try_recv_bytes(), Err(RecvError::Empty)));
    peer.write_all(&body[400..]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), body);
}

#[test]
fn announcements_above_4_gib_are_accepted_when_configured() {
    let _dog = watchdog(Duration::from_secs(60));
    // Memory follows the bytes that arrive, not the announcement: 5 GiB announced, 3 bytes
    // sent, then the peer leaves.
    let (a, mut b) = pipe().unwrap();
    b.set_max_message_size(8 << 30);
    assert_eq!(b.max_message_size(), 8 << 30);
    let mut peer = raw(&a);
    peer.write_all(&(5u64 << 30).to_le_bytes()).unwrap();
    peer.write_all(b"abc").unwrap();
    drop((peer, a));
    assert!(matches!(b.recv_bytes(), Err(RecvError::Disconnected)));
}

#[test]
fn fds_announced_but_not_sent_close_the_connection() {
    let _dog = watchdog(Duration::from_secs(60));
    let (a, mut b) = pipe().unwrap();
    let head = 3u64 | (2u64 << 48); // three bytes and two fds, but no fds come
    let mut s = raw(&a);
    s.write_all(&head.to_le_bytes()).unwrap();
    s.write_all(b"abc").unwrap();
    match b.recv_bytes() {
        Err(RecvError::Protocol(e)) => assert!(e.contains("2 fds"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(b.recv_bytes(), Err(RecvError::Disconnected)));
}

#[test]
fn fds_no_message_claims_close_the_connection() {
    let _dog = watchdog(Duration::from_secs(60));
    // fds attached to the middle of a small message, announced by no header.
    let (a, mut b) = pipe().unwrap();
    let s = raw(&a);
    let head = 4u64.to_le_bytes();
    let null = std::fs::File::open("/dev/null").unwrap();
    (&s).write_all(&head).unwrap();
    multiproc_internal::fdpass::send_fds(s.as_fd(), b"ab", &[null.as_fd(), null.as_fd()]).unwrap();
    (&s).write_all(b"cd").unwrap();
    (&s).write_all(&1u64.to_le_bytes()).unwrap();
    (&s).write_all(b"x").unwrap();
    let first = b.recv_bytes();
    let second = b.recv_bytes();
    assert!(
        matches!(&first, Err(RecvError::Protocol(_)))
            || matches!(&second, Err(RecvError::Protocol(_))),
        "{first:?} {second:?}"
    );
}
