//! Handing things to a process that already runs: files' fds, connection ends (which move), and
//! the shared objects of the other crates, inside typed messages; and what a hostile peer's
//! fds and placeholders get.

use crate::transport::{pipe, pipe_simplex};
use multiproc_internal::testing::{fork_child, watchdog};
use multiproc_pipe::transfer::Transfer;
use multiproc_pipe::{Connection, Fd, RecvError, SendError, MAX_FDS};
use multiproc_shm::Value;
use multiproc_sync::{Event, Lock};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// The longest any test here may take: a hang aborts the run instead.
const WATCHDOG: Duration = Duration::from_secs(120);

/// Bounds every wait on a peer: a hang becomes a failure.
const PATIENCE: Duration = Duration::from_secs(20);

fn temp_file(tag: &str) -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!(
        "multiproc-pipe-transfer-{tag}-{}",
        std::process::id()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    (path, file)
}

#[test]
fn a_file_opened_after_the_child_started_is_handed_to_it() {
    let _dog = watchdog(WATCHDOG);
    let (mut parent, mut child_end) = pipe().unwrap();
    let child = fork_child(|| {
        let (what, fd): (String, Fd) = child_end.recv().unwrap();
        assert_eq!(what, "append here");
        let mut file = std::fs::File::from(fd.into_inner());
        file.seek(io::SeekFrom::End(0)).unwrap();
        file.write_all(b" and the child").unwrap();
        child_end.send(&"done").unwrap();
    });
    drop(child_end);
    let (path, mut file) = temp_file("file");
    std::fs::remove_file(&path).unwrap(); // only the fds keep it now
    file.write_all(b"the parent").unwrap();
    parent
        .send(&("append here", Fd::from(file.try_clone().unwrap())))
        .unwrap();
    assert_eq!(parent.recv_timeout::<String>(PATIENCE).unwrap(), "done");
    child.assert_success();
    let mut all = String::new();
    file.seek(io::SeekFrom::Start(0)).unwrap();
    file.read_to_string(&mut all).unwrap();
    assert_eq!(all, "the parent and the child");
}

#[derive(Serialize, Deserialize)]
struct Ends {
    duplex: Connection,
    results: multiproc_pipe::Sender,
}

#[test]
fn connection_ends_move_to_a_child_started_before_they_existed() {
    let _dog = watchdog(WATCHDOG);
    let (mut control, mut child_control) = pipe().unwrap();
    let child = fork_child(|| {
        let mut ends: Ends = child_control.recv().unwrap();
        while let Ok(n) = ends.duplex.recv::<u32>() {
            ends.duplex.send(&(n + 1)).unwrap();
            ends.results.send(&format!("saw {n}")).unwrap();
        }
    });
    drop(child_control);
    let (mut mine, theirs) = pipe().unwrap();
    let (mut results, results_tx) = pipe_simplex().unwrap();
    control
        .send_owned(Ends {
            duplex: theirs,
            results: results_tx,
        })
        .unwrap();
    for n in [1u32, 41, 99] {
        mine.send(&n).unwrap();
        assert_eq!(mine.recv_timeout::<u32>(PATIENCE).unwrap(), n + 1);
        assert_eq!(
            results.recv_timeout::<String>(PATIENCE).unwrap(),
            format!("saw {n}")
        );
    }
    // The ends moved: this process holds no copy of them, so once the child has gone both
    // streams end (a copy left here would keep them open and these receives would time out).
    drop(mine);
    child.assert_success();
    assert!(matches!(
        results.recv_timeout::<String>(PATIENCE),
        Err(RecvError::Disconnected)
    ));
}

#[derive(Serialize, Deserialize)]
struct Job {
    counter: Value<u64>,
    lock: Lock,
    finished: Event,
    times: u32,
}

#[test]
fn shared_objects_handed_to_a_running_child_are_the_same_objects() {
    let _dog = watchdog(WATCHDOG);
    let (mut parent, mut child_end) = pipe().unwrap();
    let child = fork_child(|| {
        let job: Job = child_end.recv().unwrap();
        for _ in 0..job.times {
            let _g = job.lock.lock().unwrap();
            job.counter.with_lock(|c| *c += 1).unwrap();
        }
        job.finished.set();
    });
    drop(child_end);
    let job = Job {
        counter: Value::new(5).unwrap(),
        lock: Lock::new().unwrap(),
        finished: Event::new().unwrap(),
        times: 1000,
    };
    parent.send(&job).unwrap(); // shared, not moved: the parent keeps using them
    assert!(job.finished.wait_timeout(PATIENCE));
    child.assert_success();
    assert_eq!(job.counter.get().unwrap(), 1005);
    assert!(!job.lock.is_locked());
}

#[test]
fn a_connection_end_sent_by_reference_is_refused_and_nothing_is_sent() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let (_mine, theirs) = pipe().unwrap();
    match a.send(&theirs) {
        Err(SendError::Encode(e)) => assert!(e.contains("send_owned"), "{e}"),
        other => panic!("{other:?}"),
    }
    a.send(&7u8).unwrap();
    assert_eq!(b.recv::<u8>().unwrap(), 7);
}

#[test]
fn an_end_holding_unread_messages_loses_none_of_them() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let (mut x, mut y) = pipe().unwrap();
    x.send(&1u8).unwrap();
    x.send(&2u8).unwrap();
    assert_eq!(y.recv::<u8>().unwrap(), 1);
    if y.transport() == multiproc_pipe::Transport::Socket {
        // Message 2 was read ahead into this end's buffer: the end stays, handed back.
        let back = match a.send_owned(y) {
            Err(e) => {
                assert!(matches!(e.error, SendError::Encode(_)), "{e:?}");
                e.value
            }
            Ok(()) => panic!("an end with a buffered message went"),
        };
        y = back;
        assert_eq!(y.recv::<u8>().unwrap(), 2);
        // Once drained it can go.
        a.send_owned(y).unwrap();
        let mut y: Connection = b.recv().unwrap();
        x.send(&3u8).unwrap();
        assert_eq!(y.recv::<u8>().unwrap(), 3);
    } else {
        // Message 2 is still in the shared ring: it goes with the end.
        a.send_owned(y).unwrap();
        let mut y: Connection = b.recv().unwrap();
        x.send(&3u8).unwrap();
        assert_eq!(y.recv::<u8>().unwrap(), 2);
        assert_eq!(y.recv::<u8>().unwrap(), 3);
    }
}

fn same_file(a: &impl AsFd, b: &impl AsFd) -> bool {
    let meta = |fd: BorrowedFd<'_>| {
        std::fs::File::from(fd.try_clone_to_owned().unwrap())
            .metadata()
            .unwrap()
    };
    let (m, n) = (meta(a.as_fd()), meta(b.as_fd()));
    (m.dev(), m.ino()) == (n.dev(), n.ino())
}

/// A handle of our own, claiming to be a `Value` while it is a file.
struct Impostor(OwnedFd);

impl Transfer for Impostor {
    const TAG: [u8; 8] = *b"MPVALUE\0";
    fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.0.as_fd())
    }
    fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
        Ok(Impostor(fd))
    }
}

impl Serialize for Impostor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        multiproc_pipe::transfer::serialize(self, s)
    }
}

#[test]
fn bytes_with_fds_arrive_together_and_in_order() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let (pa, fa) = temp_file("fds-a");
    let (pb, fb) = temp_file("fds-b");
    a.send_bytes(b"before").unwrap();
    a.send_bytes_with_fds(b"two", &[fa.as_fd(), fb.as_fd()])
        .unwrap();
    a.send_bytes_with_fds(b"", &[fb.as_fd()]).unwrap();
    a.send_bytes(b"after").unwrap();
    assert_eq!(b.recv_bytes_with_fds().unwrap().0, b"before");
    let (m, fds) = b.recv_bytes_with_fds().unwrap();
    assert_eq!(m, b"two");
    assert!(fds.len() == 2 && same_file(&fds[0], &fa) && same_file(&fds[1], &fb));
    let (m, fds) = b.recv_bytes_with_fds().unwrap();
    assert!(m.is_empty() && fds.len() == 1 && same_file(&fds[0], &fb));
    let (m, fds) = b.recv_bytes_with_fds().unwrap();
    assert!(m == b"after" && fds.is_empty());
    std::fs::remove_file(pa).unwrap();
    std::fs::remove_file(pb).unwrap();
}

#[test]
fn more_fds_than_the_kernel_passes_is_refused_before_sending() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let fds = vec![null.as_fd(); MAX_FDS + 1];
    assert!(matches!(
        a.send_bytes_with_fds(b"x", &fds),
        Err(SendError::TooManyFds { count, max }) if count == MAX_FDS + 1 && max == MAX_FDS
    ));
    a.send_bytes_with_fds(b"x", &fds[..MAX_FDS]).unwrap();
    assert_eq!(b.recv_bytes_with_fds().unwrap().1.len(), MAX_FDS);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn fds_nobody_claims_are_closed() {
    let _dog = watchdog(WATCHDOG);
    // In a child: it has one thread, so its fd count moves only with what it does.
    fork_child(|| {
        let (mut a, mut b) = pipe().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        a.send_bytes_with_fds(b"x", &[null.as_fd(), null.as_fd()])
            .unwrap();
        a.send(&(1u8, Fd::from(null.try_clone().unwrap()))).unwrap();
        a.send(&(2u8, Fd::from(null.try_clone().unwrap()))).unwrap();
        let before = open_fds();
        assert_eq!(b.recv_bytes().unwrap(), b"x"); // plain bytes: the fds are dropped
        assert!(matches!(
            b.recv::<u8>(),
            Err(RecvError::TrailingBytes { .. })
        ));
        let (n, fd) = b.recv::<(u8, Fd)>().unwrap();
        assert_eq!(n, 2);
        assert_eq!(open_fds(), before + 1); // only the one claimed
        drop(fd);
        assert_eq!(open_fds(), before);
    })
    .assert_success();
}

#[test]
fn a_handle_that_is_not_what_it_claims_is_a_decoding_error() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    // Another kind of handle than asked for.
    a.send(&Event::new().unwrap()).unwrap();
    match b.recv::<Lock>() {
        Err(RecvError::Decode(e)) => assert!(e.contains("MPEVENT") && e.contains("MPLOCK")),
        other => panic!("{other:?}"),
    }
    // The right tag on an fd that is no such object: the object's own checks refuse it.
    let null = std::fs::File::open("/dev/null").unwrap();
    a.send(&Impostor(null.into())).unwrap();
    assert!(matches!(b.recv::<Value<u64>>(), Err(RecvError::Decode(_))));
    // A placeholder whose index has no fd.
    a.send_bytes(&postcard::to_allocvec(&(*b"MPFD\0\0\0\0", 3u32, 0u8)).unwrap())
        .unwrap();
    match b.recv::<Fd>() {
        Err(RecvError::Decode(e)) => assert!(e.contains("fds 3..=3 but 0"), "{e}"),
        other => panic!("{other:?}"),
    }
    // None of these broke the connection.
    a.send(&"still here").unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "still here");
}

#[test]
fn handles_cannot_be_encoded_outside_a_connection() {
    let _dog = watchdog(WATCHDOG);
    let v = Value::new(1u32).unwrap();
    assert!(postcard::to_allocvec(&v).is_err());
}

#[test]
fn fds_do_not_travel_over_tcp_but_a_tcp_end_travels_over_a_pipe() {
    let _dog = watchdog(WATCHDOG);
    use multiproc_pipe::{Address, Client, Listener};
    let listener = Listener::bind(Address::Tcp("127.0.0.1:0".parse().unwrap()), None).unwrap();
    let address = listener.address().clone();
    let client = std::thread::spawn(move || Client::connect(&address, None).unwrap());
    assert_eq!(
        multiproc_pipe::wait(&[&listener], Some(PATIENCE)).unwrap(),
        [0]
    );
    let mut served = listener.accept().unwrap();
    let mut client = client.join().unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    assert!(matches!(
        client.send_bytes_with_fds(b"x", &[null.as_fd()]),
        Err(SendError::FdsUnsupported)
    ));
    assert!(matches!(
        client.send(&Fd::from(null)),
        Err(SendError::FdsUnsupported)
    ));
    // The TCP end itself moves to a running child over a Unix pipe.
    let (mut control, mut child_control) = pipe().unwrap();
    let child = fork_child(|| {
        let mut tcp: Connection = child_control.recv().unwrap();
        let n: u64 = tcp.recv().unwrap();
        tcp.send(&(n * 2)).unwrap();
    });
    drop(child_control);
    control.send_owned(client).unwrap();
    served.send(&21u64).unwrap();
    assert_eq!(served.recv_timeout::<u64>(PATIENCE).unwrap(), 42);
    child.assert_success();
    assert!(matches!(
        served.recv_timeout::<u64>(PATIENCE),
        Err(RecvError::Disconnected)
    ));
}

#[test]
fn an_end_sent_through_a_reference_is_dead_here_afterwards() {
    let _dog = watchdog(WATCHDOG);
    let (mut control, mut far) = pipe().unwrap();
    let (mut mine, theirs) = pipe().unwrap();
    // By value of a reference (or of an Arc): the end itself stays in this scope.
    control.send_owned(&theirs).unwrap();
    let mut received: Connection = far.recv().unwrap();
    let mut theirs = theirs;
    mine.send(&1u32).unwrap();
    // The stream has one reader: the received end. The one left here reports a
    // disconnection for everything and refuses to travel again.
    assert!(matches!(theirs.recv::<u32>(), Err(RecvError::Disconnected)));
    assert!(matches!(theirs.send(&0u8), Err(SendError::Disconnected)));
    assert!(matches!(
        control.send_owned(&theirs).map_err(|e| e.error),
        Err(SendError::Encode(_))
    ));
    assert_eq!(received.recv::<u32>().unwrap(), 1);
    // Its fd no longer holds the stream: once the received end goes, the peer sees the end.
    drop(received);
    assert!(matches!(
        mine.recv_timeout::<u32>(PATIENCE),
        Err(RecvError::Disconnected)
    ));
    let (_peer, kept) = pipe().unwrap();
    control.send_owned(&kept).unwrap();
    assert!(kept.poll(Duration::ZERO).unwrap()); // dead: a receive would answer at once
}

#[test]
fn an_end_whose_stream_broke_cannot_travel() {
    let _dog = watchdog(WATCHDOG);
    let (mut a, mut b) = pipe().unwrap();
    b.set_max_message_size(100);
    a.send_bytes(&[0u8; 200]).unwrap();
    assert!(matches!(b.recv_bytes(), Err(RecvError::TooLarge { .. })));
    let (mut control, _far) = pipe().unwrap();
    let e = control.send_owned(b).unwrap_err();
    assert!(matches!(e.error, SendError::Encode(_)), "{e:?}");
}

/// Serializes a handle it makes on the spot, then opens another file: the fd number the
/// handle had may now be that file's.
struct Temporary(std::path::PathBuf, std::path::PathBuf);

impl Serialize for Temporary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let made_here = Fd::from(std::fs::File::open(&self.0).unwrap());
        let r = made_here.serialize(s);
        drop(made_here);
        std::mem::forget(std::fs::File::open(&self.1).unwrap()); // likely the same number
        r
    }
}

#[test]
fn a_handle_made_during_encoding_sends_its_own_file() {
    let _dog = watchdog(WATCHDOG);
    let (public, mut p) = temp_file("public");
    let (secret, mut q) = temp_file("secret");
    p.write_all(b"public").unwrap();
    q.write_all(b"SECRET").unwrap();
    let (mut a, mut b) = pipe().unwrap();
    a.send(&Temporary(public.clone(), secret.clone())).unwrap();
    let fd: Fd = b.recv().unwrap();
    let mut got = String::new();
    std::fs::File::from(fd.into_inner())
        .read_to_string(&mut got)
        .unwrap();
    assert_eq!(got, "public");
    std::fs::remove_file(public).unwrap();
    std::fs::remove_file(secret).unwrap();
}

#[test]
fn a_handed_socket_is_read_with_our_options_not_the_senders() {
    let _dog = watchdog(WATCHDOG);
    use multiproc_internal::testing::set_socket_option;
    let (mut control, mut far) = pipe().unwrap();
    let (mut mine, theirs) = pipe().unwrap();
    // A peer that sets options changing how the socket reads, then hands it over.
    let fd = theirs.as_fd();
    set_socket_option(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 1 << 20).unwrap();
    set_socket_option(fd, libc::SOL_SOCKET, libc::SO_PASSCRED, 1).unwrap();
    let _ = set_socket_option(fd, libc::SOL_SOCKET, 76 /* SO_PASSPIDFD */, 1);
    control.send_owned(theirs).unwrap();
    let mut theirs: Connection = far.recv().unwrap();
    // A small message arrives at once (no low-water mark of 1 MiB), and the largest batch of
    // fds fits (no credentials crowding the control buffer), leaking nothing.
    let null = std::fs::File::open("/dev/null").unwrap();
    let fds = vec![null.as_fd(); MAX_FDS];
    for _ in 0..20 {
        mine.send_bytes(b"hi").unwrap();
        assert_eq!(theirs.recv_bytes_timeout(PATIENCE).unwrap(), b"hi");
    }
    let before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    mine.send_bytes_with_fds(b"many", &fds).unwrap();
    let (m, got) = theirs.recv_bytes_with_fds_timeout(PATIENCE).unwrap();
    assert_eq!((m.as_slice(), got.len()), (&b"many"[..], MAX_FDS));
    drop(got);
    assert!(std::fs::read_dir("/proc/self/fd").unwrap().count() <= before + 5);
}
