//! Listener and Client across real processes: the handshake with the same key, another key,
//! a key on one side only, no key; peers that break the protocol or stay silent; socket
//! file modes and cleanup; TCP_NODELAY; timeouts; keys kept out of `Debug`.

use multiproc_internal::testing::{fd_flags, fork_child, socket_option, test_name};
use multiproc_pipe::{
    pipe, wait, Address, AuthKey, Client, ConnectError, Connection, Listener, RecvError,
};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KEY: &[u8] = b"multiproc listener test key";
/// Scheduling slack allowed past a timeout.
const SLACK: Duration = Duration::from_millis(500);
/// The handshake timeout of tests that expect one to expire.
const SHORT: Duration = Duration::from_millis(300);
/// The handshake timeout of tests that expect a prompt answer instead.
const LONG: Duration = Duration::from_secs(3);
/// How long a test waits for something a peer surely does soon.
const BOUND: Duration = Duration::from_secs(10);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Asserts a timeout of `timeout` started at `start` expired neither early nor late.
#[track_caller]
fn assert_timed(start: Instant, timeout: Duration) {
    let took = start.elapsed();
    assert!(
        took >= timeout && took < timeout + SLACK,
        "took {took:?} for a timeout of {timeout:?}"
    );
}

/// Waits until a connection is pending on `listener`: `accept` then starts its handshake
/// at once, so its timing can be measured.
fn until_pending(listener: &Listener) {
    assert_eq!(
        wait(&[listener], Some(BOUND)).unwrap(),
        [0],
        "no client connected"
    );
}

/// `accept`, once a client is pending: a client process that failed before connecting makes
/// the test fail instead of hang.
fn accept(listener: &Listener) -> Result<Connection, ConnectError> {
    until_pending(listener);
    listener.accept()
}

fn int_option(fd: &impl AsFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    socket_option(fd.as_fd(), level, name).expect("getsockopt")
}

/// Asserts an fd is close-on-exec and blocking.
#[track_caller]
fn assert_cloexec_blocking(fd: &impl AsFd) {
    let raw = fd.as_fd().as_raw_fd();
    let (fd_flags, fl_flags) = fd_flags(fd.as_fd()).expect("fcntl");
    assert!(
        fd_flags & libc::FD_CLOEXEC != 0,
        "fd {raw} is not close-on-exec"
    );
    assert!(fl_flags & libc::O_NONBLOCK == 0, "fd {raw} is non-blocking");
}

/// A file's permission bits, in octal.
fn mode(path: &Path) -> String {
    format!(
        "{:o}",
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    )
}

fn unix_path(listener: &Listener) -> PathBuf {
    match listener.address() {
        Address::Unix(p) => p.clone(),
        other => panic!("not a Unix listener: {other}"),
    }
}

/// A fresh directory of this test's own, removed when dropped.
struct TestDir(PathBuf);

impl TestDir {
    fn new(tag: &str) -> TestDir {
        let dir = std::env::temp_dir().join(test_name(tag));
        std::fs::create_dir(&dir).unwrap();
        TestDir(dir)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The peak virtual memory of this process (`VmPeak`), in bytes.
fn vm_peak() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmPeak:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// A few messages both ways, as the side that speaks first.
fn converse_first(conn: &mut Connection) {
    conn.send(&("hello", 1u32)).unwrap();
    conn.send_bytes(&vec![7u8; 1 << 20]).unwrap();
    assert_eq!(conn.recv::<String>().unwrap(), "welcome");
    assert_eq!(conn.recv_bytes().unwrap(), vec![9u8; 1 << 20]);
}

/// The other side of [`converse_first`].
fn converse_second(conn: &mut Connection) {
    assert_eq!(
        conn.recv::<(String, u32)>().unwrap(),
        ("hello".to_string(), 1)
    );
    assert_eq!(conn.recv_bytes().unwrap(), vec![7u8; 1 << 20]);
    conn.send(&"welcome").unwrap();
    conn.send_bytes(&vec![9u8; 1 << 20]).unwrap();
}

#[test]
fn same_key_over_a_unix_socket_then_messages_both_ways() {
    let listener = Listener::bind_unix_temp(Some(KEY)).unwrap();
    let address = listener.address().clone();
    let child = fork_child(|| {
        let mut conn = Client::connect(&address, Some(KEY)).unwrap();
        assert_cloexec_blocking(&conn);
        converse_first(&mut conn);
    });
    let mut conn = accept(&listener).unwrap();
    assert_cloexec_blocking(&conn);
    assert_cloexec_blocking(&listener);
    converse_second(&mut conn);
    child.assert_success();
    assert!(matches!(conn.recv_bytes(), Err(RecvError::Disconnected)));
}

#[test]
fn same_key_over_tcp_on_port_0_with_nodelay() {
    let listener = Listener::bind(localhost(), Some(KEY)).unwrap();
    let Address::Tcp(addr) = *listener.address() else {
        panic!("{:?}", listener.address())
    };
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0, "address() reports the real port");
    let child = fork_child(|| {
        let mut conn = Client::connect(addr, Some(KEY)).unwrap();
        assert_eq!(int_option(&conn, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
        assert_cloexec_blocking(&conn);
        converse_first(&mut conn);
    });
    let mut conn = accept(&listener).unwrap();
    assert_eq!(int_option(&conn, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
    assert_cloexec_blocking(&conn);
    converse_second(&mut conn);
    child.assert_success();
    assert!(matches!(conn.recv_bytes(), Err(RecvError::Disconnected)));
}

#[test]
fn another_key_fails_on_both_sides_and_the_listener_stays_usable() {
    for listener in [
        Listener::bind(localhost(), Some(KEY)).unwrap(),
        Listener::bind_unix_temp(Some(KEY)).unwrap(),
    ] {
        let address = listener.address().clone();
        let child = fork_child(|| {
            let r = Client::connect(&address, Some(b"another key"));
            assert!(
                matches!(r, Err(ConnectError::AuthenticationFailed)),
                "{r:?}"
            );
            let mut conn = Client::connect(&address, Some(KEY)).unwrap();
            conn.send(&"second client").unwrap();
        });
        let r = accept(&listener);
        assert!(
            matches!(r, Err(ConnectError::AuthenticationFailed)),
            "{address}: {r:?}"
        );
        let mut conn = accept(&listener).unwrap();
        assert_eq!(conn.recv::<String>().unwrap(), "second client");
        child.assert_success();
    }
}

#[test]
fn no_key_on_either_side_connects_without_a_handshake() {
    let listener = Listener::bind_unix_temp(None).unwrap();
    let address = listener.address().clone();
    let child = fork_child(|| {
        let mut conn = Client::connect(&address, None).unwrap();
        converse_first(&mut conn);
    });
    let mut conn = accept(&listener).unwrap();
    converse_second(&mut conn);
    child.assert_success();
}

#[test]
fn key_on_the_listener_only_a_client_that_sends_first_is_a_protocol_error() {
    let listener = Listener::builder()
        .authkey(KEY)
        .handshake_timeout(LONG)
        .bind_unix_temp()
        .unwrap();
    let address = listener.address().clone();
    let child = fork_child(|| {
        let mut conn = Client::connect(&address, None).unwrap();
        conn.send(&"no key here").unwrap();
        // The listener's challenge is no message this side can read: an oversize "length".
        let r = conn.recv::<String>();
        assert!(
            matches!(r, Err(RecvError::TooLarge { .. } | RecvError::Disconnected)),
            "{r:?}"
        );
    });
    until_pending(&listener);
    let start = Instant::now();
    let r = accept(&listener);
    assert!(matches!(r, Err(ConnectError::Protocol)), "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "not refused at once"
    );
    child.assert_success();
}

#[test]
fn key_on_the_listener_only_a_client_that_receives_first_leaves_at_once() {
    let listener = Listener::builder()
        .authkey(KEY)
        .handshake_timeout(LONG)
        .bind_unix_temp()
        .unwrap();
    let address = listener.address().clone();
    let child = fork_child(|| {
        let mut conn = Client::connect(&address, None).unwrap();
        // The listener's challenge is no message this side can read: an oversize "length".
        let r = conn.recv::<String>();
        assert!(matches!(r, Err(RecvError::TooLarge { .. })), "{r:?}");
    });
    until_pending(&listener);
    let start = Instant::now();
    let r = accept(&listener);
    assert!(matches!(r, Err(ConnectError::Disconnected)), "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "not noticed at once"
    );
    child.assert_success();
}

#[test]
fn key_on_the_listener_only_a_silent_client_hits_the_handshake_timeout() {
    let listener = Listener::builder()
        .authkey(KEY)
        .handshake_timeout(SHORT)
        .bind_unix_temp()
        .unwrap();
    let address = listener.address().clone();
    let (mut done_tx, mut done_rx) = pipe().unwrap();
    let child = fork_child(|| {
        let _conn = Client::connect(&address, None).unwrap();
        // Neither sends nor receives until the listener has given up.
        done_rx.recv_bytes().unwrap();
    });
    until_pending(&listener);
    let start = Instant::now();
    let r = accept(&listener);
    assert!(matches!(r, Err(ConnectError::HandshakeTimeout)), "{r:?}");
    assert_timed(start, SHORT);
    done_tx.send_bytes(b"done").unwrap();
    child.assert_success();
}

#[test]
fn key_on_the_client_only_against_a_listener_that_waits_hits_the_handshake_timeout() {
    let listener = Listener::bind(localhost(), None).unwrap();
    let address = listener.address().clone();
    let child = fork_child(|| {
        let start = Instant::now();
        let r = Client::builder()
            .authkey(KEY)
            .handshake_timeout(SHORT)
            .connect(&address);
        assert!(matches!(r, Err(ConnectError::HandshakeTimeout)), "{r:?}");
        assert_timed(start, SHORT);
    });
    // No handshake on this side: accepted at once; the client leaves after its timeout.
    let mut conn = accept(&listener).unwrap();
    assert!(matches!(
        conn.recv_bytes_timeout(BOUND),
        Err(RecvError::Disconnected)
    ));
    child.assert_success();
}

#[test]
fn key_on_the_client_only_against_a_listener_that_sends_first_is_a_protocol_error() {
    let listener = Listener::bind_unix_temp(None).unwrap();
    let address = listener.address().clone();
    let child = fork_child(|| {
        let start = Instant::now();
        let r = Client::builder()
            .authkey(KEY)
            .handshake_timeout(LONG)
            .connect(&address);
        assert!(matches!(r, Err(ConnectError::Protocol)), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not refused at once"
        );
    });
    let mut conn = accept(&listener).unwrap();
    conn.send(&"hello, whoever you are").unwrap();
    // The client answers with FAIL, which is no message, and leaves.
    assert!(conn.recv_bytes_timeout(BOUND).is_err());
    child.assert_success();
}

#[test]
fn a_raw_client_announcing_4_gib_is_refused_at_once_without_allocating() {
    let listener = Listener::builder()
        .authkey(KEY)
        .handshake_timeout(LONG)
        .bind_unix_temp()
        .unwrap();
    let path = unix_path(&listener);
    // The listener runs in a child, so its memory is measured alone.
    let child = fork_child(|| {
        for _ in 0..2 {
            let before = vm_peak();
            let r = accept(&listener);
            assert!(matches!(r, Err(ConnectError::Protocol)), "{r:?}");
            let grew = vm_peak().saturating_sub(before);
            assert!(grew < 64 << 20, "virtual memory grew by {grew} bytes");
        }
    });
    for junk in [&[0xa5u8; 4096][..], &[]] {
        let mut raw = UnixStream::connect(&path).unwrap();
        raw.set_read_timeout(Some(BOUND)).unwrap();
        // The frame header of a 4 GiB message, then junk or nothing (the socket stays open).
        raw.write_all(&(4u64 << 30).to_le_bytes()).unwrap();
        raw.write_all(junk).unwrap();
        let start = Instant::now();
        let mut got = [0u8; 48];
        raw.read_exact(&mut got).unwrap();
        assert_eq!(&got[..8], b"MPAUTH1\0", "the challenge");
        assert_eq!(&got[40..], b"MPFAIL\0\0", "the refusal");
        // Then the connection ends (reset when the listener left junk unread).
        match raw.read(&mut got) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("{other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not refused at once"
        );
    }
    child.assert_success();
}

#[test]
fn a_client_that_sends_half_a_magic_then_nothing_times_out_within_the_deadline() {
    let listener = Listener::builder()
        .authkey(KEY)
        .handshake_timeout(SHORT)
        .bind(localhost())
        .unwrap();
    let address = listener.address().clone();
    let (mut done_tx, mut done_rx) = pipe().unwrap();
    let Address::Tcp(addr) = address else {
        unreachable!()
    };
    let child = fork_child(|| {
        let mut raw = std::net::TcpStream::connect(addr).unwrap();
        raw.write_all(b"MPAU").unwrap();
        done_rx.recv_bytes().unwrap();
    });
    until_pending(&listener);
    let start = Instant::now();
    let r = accept(&listener);
    assert!(matches!(r, Err(ConnectError::HandshakeTimeout)), "{r:?}");
    assert_timed(start, SHORT);
    done_tx.send_bytes(b"done").unwrap();
    child.assert_success();
}

#[test]
fn a_listener_that_never_accepts_times_the_client_out_within_the_deadline() {
    for listener in [
        Listener::bind_unix_temp(Some(KEY)).unwrap(),
        Listener::bind(localhost(), Some(KEY)).unwrap(),
    ] {
        let address = listener.address().clone();
        let child = fork_child(|| {
            // The kernel completes the connection (the backlog has room); nobody answers.
            let start = Instant::now();
            let r = Client::builder()
                .authkey(KEY)
                .handshake_timeout(SHORT)
                .connect(&address);
            assert!(matches!(r, Err(ConnectError::HandshakeTimeout)), "{r:?}");
            assert_timed(start, SHORT);
        });
        child.assert_success();
    }
}

#[test]
fn connect_timeout_on_a_full_backlog() {
    // Backlog 0 queues one connection; the next one must wait for room.
    let unix = Listener::builder().backlog(0).bind_unix_temp().unwrap();
    let tcp = Listener::builder().backlog(0).bind(localhost()).unwrap();
    for listener in [&unix, &tcp] {
        let address = listener.address().clone();
        let child = fork_child(|| {
            let _queued = Client::connect(&address, None).unwrap();
            let timeout = Duration::from_millis(200);
            let start = Instant::now();
            let r = Client::builder().connect_timeout(timeout).connect(&address);
            assert!(
                matches!(r, Err(ConnectError::ConnectTimeout)),
                "{address}: {r:?}"
            );
            assert_timed(start, timeout);
        });
        child.assert_success();
    }
}

#[test]
fn connecting_to_nothing_is_an_io_error() {
    let dir = TestDir::new("listener-nothing");
    let r = Client::connect(dir.0.join("absent.sock").as_path(), None);
    assert!(
        matches!(&r, Err(ConnectError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound),
        "{r:?}"
    );
    // A port that was just free: nobody listens there.
    let port = Listener::bind(localhost(), None).unwrap().address().clone();
    let r = Client::builder().connect_timeout(BOUND).connect(&port);
    assert!(
        matches!(&r, Err(ConnectError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{r:?}"
    );
    let e: std::io::Error = r.unwrap_err().into();
    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
fn bad_arguments_are_refused() {
    let dir = TestDir::new("listener-args");
    let invalid = std::io::ErrorKind::InvalidInput;
    // An empty key would authenticate anyone.
    assert_eq!(
        Listener::bind_unix_temp(Some(b"")).unwrap_err().kind(),
        invalid
    );
    let r = Client::connect(dir.0.join("s").as_path(), Some(b""));
    assert!(
        matches!(&r, Err(ConnectError::Io(e)) if e.kind() == invalid),
        "{r:?}"
    );
    // Unix paths: too long, empty, with a NUL.
    let long = dir.0.join("x".repeat(120));
    assert_eq!(
        Listener::bind(long.as_path(), None).unwrap_err().kind(),
        invalid
    );
    assert_eq!(
        Listener::bind(PathBuf::new(), None).unwrap_err().kind(),
        invalid
    );
    let r = Client::connect(Path::new("a\0b"), None);
    assert!(
        matches!(&r, Err(ConnectError::Io(e)) if e.kind() == invalid),
        "{r:?}"
    );
    // A path in use.
    let path = dir.0.join("taken.sock");
    let _first = Listener::bind(path.as_path(), None).unwrap();
    assert_eq!(
        Listener::bind(path.as_path(), None).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse
    );
}

#[test]
fn socket_files_are_0600_and_the_temporary_directory_0700() {
    let temp = Listener::bind_unix_temp(Some(KEY)).unwrap();
    let path = unix_path(&temp);
    assert_eq!(mode(&path), "600", "{}", path.display());
    assert_eq!(mode(path.parent().unwrap()), "700");
    assert!(path.starts_with(std::env::temp_dir()));

    let dir = TestDir::new("listener-mode");
    let path = dir.0.join("s.sock");
    let _listener = Listener::bind(path.as_path(), None).unwrap();
    assert_eq!(mode(&path), "600");
}

#[test]
fn the_socket_file_and_temporary_directory_go_with_the_listener() {
    let mut slot = Some(Listener::bind_unix_temp(None).unwrap());
    let path = unix_path(slot.as_ref().unwrap());
    let parent = path.parent().unwrap().to_path_buf();
    // A forked child dropping its copy removes nothing: only the creating process does.
    let child = fork_child(|| drop(slot.take()));
    child.assert_success();
    let temp = slot.unwrap();
    assert!(path.exists());
    // A client can still connect.
    let child = fork_child(|| drop(Client::connect(path.as_path(), None).unwrap()));
    drop(temp.accept().unwrap());
    child.assert_success();
    drop(temp);
    assert!(!path.exists() && !parent.exists());

    // An explicit path; close() reports what dropping does silently.
    let dir = TestDir::new("listener-drop");
    let path = dir.0.join("s.sock");
    let listener = Listener::bind(path.as_path(), None).unwrap();
    assert!(path.exists());
    listener.close().unwrap();
    assert!(!path.exists());

    // A file that replaced the socket is someone else's: left alone.
    let listener = Listener::bind(path.as_path(), None).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"not a socket").unwrap();
    drop(listener);
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let secret = b"hunter2-secret";
    let needles = ["hunter2", "104, 117, 110", "68756e74"];
    let listener = Listener::builder()
        .authkey(secret)
        .bind_unix_temp()
        .unwrap();
    let outputs = [
        format!("{listener:?}"),
        format!("{listener:#?}"),
        format!("{:?}", Listener::builder().authkey(secret)),
        format!("{:?}", Client::builder().authkey(secret)),
        format!("{:?}", AuthKey::new(secret)),
    ];
    for out in &outputs {
        assert!(out.contains("AuthKey(<redacted>)"), "{out}");
        for needle in needles {
            assert!(!out.contains(needle), "the key shows in {out}");
        }
    }
}

#[test]
fn errors_convert_to_io_errors() {
    use std::io::ErrorKind;
    let kinds = [
        (
            ConnectError::AuthenticationFailed,
            ErrorKind::PermissionDenied,
        ),
        (ConnectError::Protocol, ErrorKind::InvalidData),
        (ConnectError::HandshakeTimeout, ErrorKind::TimedOut),
        (ConnectError::ConnectTimeout, ErrorKind::TimedOut),
        (ConnectError::Disconnected, ErrorKind::ConnectionAborted),
    ];
    for (e, kind) in kinds {
        let text = e.to_string();
        assert!(!text.ends_with('.') && text.starts_with(char::is_lowercase));
        assert_eq!(std::io::Error::from(e).kind(), kind);
    }
    assert!(ConnectError::Protocol.is_rejection());
    assert!(!ConnectError::HandshakeTimeout.is_rejection());
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Listener>();
    send_sync::<multiproc_pipe::ListenerBuilder>();
    send_sync::<multiproc_pipe::ClientBuilder>();
    send_sync::<Address>();
    send_sync::<AuthKey>();
    send_sync::<ConnectError>();
}
