//! The authentication key and the handshake of [`Listener`](crate::Listener) and
//! [`Client`](crate::Client): a mutual HMAC-SHA256 challenge–response, run on the raw socket
//! before the connection carries any message.
//!
//! ```text
//! server → client  HELLO   (8) ‖ server nonce (32)
//! client → server  HELLO   (8) ‖ client nonce (32) ‖ HMAC(key, "client" ‖ server nonce ‖ client nonce)
//! server → client  WELCOME (8) ‖ HMAC(key, "server" ‖ client nonce ‖ server nonce)   or FAIL (8)
//! client → server  OK      (8)                                                        or FAIL (8)
//! ```
//!
//! Every step has a fixed size: both sides read exact lengths into arrays on the stack, so
//! nothing the peer sends decides an allocation, and at most 80 bytes are read from an
//! unauthenticated peer. A magic is checked as soon as its 8 bytes are in, so a peer that does
//! not speak the handshake is refused at once. MACs are compared in constant time
//! (`Mac::verify_slice`). Nonces are 32 bytes from `getrandom(2)`, fresh for every
//! connection, so a recorded exchange cannot be replayed; the labels `client` and `server`
//! keep one side's proof from being reflected as the other's. Every read and write obeys one
//! deadline on the monotonic clock (non-blocking `recv` and `send` between `ppoll`s).
//!
//! Like Python's, the handshake authenticates the peer; it neither encrypts nor protects the
//! messages that follow.

use crate::channel::is_disconnect;
use crate::error::ConnectError;
use crate::sys;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

/// Opens the exchange (server) and the answer to it (client); names protocol version 1.
pub(crate) const HELLO: [u8; 8] = *b"MPAUTH1\0";
/// The server accepts the client's proof; its own follows.
pub(crate) const WELCOME: [u8; 8] = *b"MPWELC\0\0";
/// The client accepts the server's proof: the connection is open.
pub(crate) const OK: [u8; 8] = *b"MPOK\0\0\0\0";
/// Either side refuses the other's proof.
pub(crate) const FAIL: [u8; 8] = *b"MPFAIL\0\0";

const NONCE: usize = 32;
const TAG: usize = 32;

/// A secret shared by the processes allowed to connect: Python's `authkey`.
///
/// Its `Debug` never shows the bytes (`AuthKey(<redacted>)`), and they are overwritten with
/// zeros when it is dropped. Any non-empty byte string works; [`AuthKey::generate`] makes a
/// good one (32 random bytes, like Python's `os.urandom(32)` process keys).
///
/// # Examples
///
/// ```
/// use multiproc_pipe::AuthKey;
/// # fn main() -> std::io::Result<()> {
/// let key = AuthKey::generate()?;
/// assert_eq!(key.as_bytes().len(), 32);
/// assert_eq!(format!("{key:?}"), "AuthKey(<redacted>)");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthKey(Box<[u8]>);

impl AuthKey {
    /// A key holding a copy of `bytes`.
    pub fn new(bytes: &[u8]) -> AuthKey {
        AuthKey(bytes.into())
    }

    /// A fresh key of 32 random bytes from the kernel (`getrandom(2)`).
    ///
    /// # Errors
    ///
    /// OS errors of `getrandom` (none are expected on Linux ≥ 3.17).
    pub fn generate() -> io::Result<AuthKey> {
        let mut key = AuthKey(vec![0u8; 32].into_boxed_slice());
        sys::getrandom(&mut key.0)?;
        Ok(key)
    }

    /// The key's bytes, to hand them to another process (over a pipe, a file only its user
    /// can read, …).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self, label: &[u8], first: &[u8; NONCE], second: &[u8; NONCE]) -> Hmac<Sha256> {
        // HMAC takes keys of any length (long ones are hashed first): this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(label);
        mac.update(first);
        mac.update(second);
        mac
    }
}

impl From<&[u8]> for AuthKey {
    fn from(bytes: &[u8]) -> AuthKey {
        AuthKey::new(bytes)
    }
}

impl From<Vec<u8>> for AuthKey {
    /// Takes the vector's bytes; when it had spare capacity, the key is copied and the whole
    /// allocation (spare capacity included) is zeroed before it is freed.
    fn from(mut bytes: Vec<u8>) -> AuthKey {
        if bytes.len() == bytes.capacity() {
            return AuthKey(bytes.into_boxed_slice());
        }
        let key = AuthKey::new(&bytes);
        bytes.resize(bytes.capacity(), 0); // within the capacity: no reallocation
        sys::zero(&mut bytes);
        key
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthKey(<redacted>)")
    }
}

impl Drop for AuthKey {
    fn drop(&mut self) {
        sys::zero(&mut self.0);
    }
}

/// The handshake's I/O: exact reads and writes under one deadline.
struct Wire<'a> {
    fd: BorrowedFd<'a>,
    deadline: Option<Instant>,
}

impl Wire<'_> {
    /// Waits for `events` until the deadline.
    fn wait(&self, events: libc::c_short) -> Result<(), ConnectError> {
        match sys::poll_one(self.fd, events, self.deadline) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ConnectError::HandshakeTimeout),
            Err(e) => Err(ConnectError::Io(e)),
        }
    }

    /// Fills `buf` exactly: never reads a byte past it (what follows the handshake is the
    /// connection's).
    fn read_exact(&self, buf: &mut [u8]) -> Result<(), ConnectError> {
        let mut got = 0;
        while got < buf.len() {
            match sys::recv_into(self.fd, &mut buf[got..], true) {
                Ok(0) => return Err(ConnectError::Disconnected),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(libc::POLLIN)?,
                Err(e) if is_disconnect(&e) => return Err(ConnectError::Disconnected),
                Err(e) => return Err(ConnectError::Io(e)),
            }
        }
        Ok(())
    }

    /// Reads one 8-byte magic.
    fn read_magic(&self) -> Result<[u8; 8], ConnectError> {
        let mut magic = [0u8; 8];
        self.read_exact(&mut magic)?;
        Ok(magic)
    }

    fn write_all(&self, mut buf: &[u8]) -> Result<(), ConnectError> {
        while !buf.is_empty() {
            match sys::send_nonblocking(self.fd, buf) {
                Ok(n) => buf = buf.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(libc::POLLOUT)?,
                Err(e) if is_disconnect(&e) => return Err(ConnectError::Disconnected),
                Err(e) => return Err(ConnectError::Io(e)),
            }
        }
        Ok(())
    }

    /// Tells the peer it is refused (best effort: 8 bytes fit in any socket buffer, and a
    /// peer that is gone does not need telling), and returns `why`.
    fn refuse(&self, why: ConnectError) -> ConnectError {
        let _ = sys::send_nonblocking(self.fd, &FAIL);
        why
    }
}

fn nonce() -> Result<[u8; NONCE], ConnectError> {
    let mut n = [0u8; NONCE];
    sys::getrandom(&mut n).map_err(ConnectError::Io)?;
    Ok(n)
}

/// The accepting side: challenges the client, checks its proof, proves itself, and waits
/// for the client's `OK`.
pub(crate) fn serve(
    fd: BorrowedFd<'_>,
    key: &AuthKey,
    deadline: Option<Instant>,
) -> Result<(), ConnectError> {
    let wire = Wire { fd, deadline };
    let server_nonce = nonce()?;
    let mut hello = [0u8; 8 + NONCE];
    hello[..8].copy_from_slice(&HELLO);
    hello[8..].copy_from_slice(&server_nonce);
    wire.write_all(&hello)?;

    if wire.read_magic()? != HELLO {
        return Err(wire.refuse(ConnectError::Protocol));
    }
    let mut client_nonce = [0u8; NONCE];
    wire.read_exact(&mut client_nonce)?;
    let mut tag = [0u8; TAG];
    wire.read_exact(&mut tag)?;
    if key
        .mac(b"client", &server_nonce, &client_nonce)
        .verify_slice(&tag)
        .is_err()
    {
        return Err(wire.refuse(ConnectError::AuthenticationFailed));
    }

    let mut welcome = [0u8; 8 + TAG];
    welcome[..8].copy_from_slice(&WELCOME);
    welcome[8..].copy_from_slice(
        &key.mac(b"server", &client_nonce, &server_nonce)
            .finalize()
            .into_bytes(),
    );
    wire.write_all(&welcome)?;

    match wire.read_magic()? {
        OK => Ok(()),
        FAIL => Err(ConnectError::AuthenticationFailed),
        _ => Err(ConnectError::Protocol),
    }
}

/// The connecting side: answers the server's challenge with its proof, checks the server's
/// proof, and confirms with `OK`.
pub(crate) fn answer(
    fd: BorrowedFd<'_>,
    key: &AuthKey,
    deadline: Option<Instant>,
) -> Result<(), ConnectError> {
    let wire = Wire { fd, deadline };
    if wire.read_magic()? != HELLO {
        return Err(wire.refuse(ConnectError::Protocol));
    }
    let mut server_nonce = [0u8; NONCE];
    wire.read_exact(&mut server_nonce)?;
    let client_nonce = nonce()?;

    let mut reply = [0u8; 8 + NONCE + TAG];
    reply[..8].copy_from_slice(&HELLO);
    reply[8..8 + NONCE].copy_from_slice(&client_nonce);
    reply[8 + NONCE..].copy_from_slice(
        &key.mac(b"client", &server_nonce, &client_nonce)
            .finalize()
            .into_bytes(),
    );
    wire.write_all(&reply)?;

    match wire.read_magic()? {
        WELCOME => {}
        FAIL => return Err(ConnectError::AuthenticationFailed),
        _ => return Err(wire.refuse(ConnectError::Protocol)),
    }
    let mut tag = [0u8; TAG];
    wire.read_exact(&mut tag)?;
    if key
        .mac(b"server", &client_nonce, &server_nonce)
        .verify_slice(&tag)
        .is_err()
    {
        return Err(wire.refuse(ConnectError::AuthenticationFailed));
    }
    wire.write_all(&OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};
    use std::time::Duration;

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(5))
    }

    fn pair() -> (OwnedFd, OwnedFd) {
        sys::socketpair().unwrap()
    }

    fn both(
        server_key: &[u8],
        client_key: &[u8],
    ) -> (Result<(), ConnectError>, Result<(), ConnectError>) {
        let (s, c) = pair();
        let client_key = AuthKey::new(client_key);
        let client = std::thread::spawn(move || answer(c.as_fd(), &client_key, soon()));
        let server = serve(s.as_fd(), &AuthKey::new(server_key), soon());
        (server, client.join().unwrap())
    }

    #[test]
    fn same_key_both_sides_succeed() {
        let (s, c) = both(b"key", b"key");
        assert!(s.is_ok() && c.is_ok(), "{s:?} {c:?}");
        // A key longer than SHA-256's block is hashed first; it still works.
        let long = vec![7u8; 1000];
        let (s, c) = both(&long, &long);
        assert!(s.is_ok() && c.is_ok(), "{s:?} {c:?}");
    }

    #[test]
    fn different_keys_fail_on_both_sides() {
        let (s, c) = both(b"key", b"other key");
        assert!(
            matches!(s, Err(ConnectError::AuthenticationFailed)),
            "{s:?}"
        );
        assert!(
            matches!(c, Err(ConnectError::AuthenticationFailed)),
            "{c:?}"
        );
    }

    #[test]
    fn nothing_past_the_handshake_is_read() {
        let (s, c) = pair();
        let key = AuthKey::new(b"k");
        let client = std::thread::spawn(move || {
            answer(c.as_fd(), &AuthKey::new(b"k"), soon()).unwrap();
            // The first bytes after the handshake belong to the connection.
            sys::send(c.as_fd(), b"after").unwrap();
            c
        });
        serve(s.as_fd(), &key, soon()).unwrap();
        let _c = client.join().unwrap();
        let mut buf = [0u8; 5];
        Wire {
            fd: s.as_fd(),
            deadline: soon(),
        }
        .read_exact(&mut buf)
        .unwrap();
        assert_eq!(&buf, b"after");
    }

    #[test]
    fn a_server_that_proves_nothing_is_refused_by_the_client() {
        // A fake server that sends a HELLO, then WELCOME with a wrong proof.
        let (s, c) = pair();
        let server = std::thread::spawn(move || {
            let wire = Wire {
                fd: s.as_fd(),
                deadline: soon(),
            };
            let mut hello = [0u8; 40];
            hello[..8].copy_from_slice(&HELLO);
            wire.write_all(&hello).unwrap();
            let mut reply = [0u8; 72];
            wire.read_exact(&mut reply).unwrap();
            let mut welcome = [0u8; 40];
            welcome[..8].copy_from_slice(&WELCOME);
            wire.write_all(&welcome).unwrap();
            wire.read_magic().unwrap()
        });
        let r = answer(c.as_fd(), &AuthKey::new(b"k"), soon());
        assert!(
            matches!(r, Err(ConnectError::AuthenticationFailed)),
            "{r:?}"
        );
        assert_eq!(server.join().unwrap(), FAIL);
    }

    #[test]
    fn wrong_magics_are_protocol_errors() {
        // The client gets something else than HELLO.
        let (s, c) = pair();
        sys::send(s.as_fd(), &[0xff; 40]).unwrap();
        let r = answer(c.as_fd(), &AuthKey::new(b"k"), soon());
        assert!(matches!(r, Err(ConnectError::Protocol)), "{r:?}");
        // The server gets something else than HELLO, then than OK.
        let (s, c) = pair();
        sys::send(c.as_fd(), &(4u64 << 30).to_le_bytes()).unwrap();
        let r = serve(s.as_fd(), &AuthKey::new(b"k"), soon());
        assert!(matches!(r, Err(ConnectError::Protocol)), "{r:?}");
    }

    #[test]
    fn a_silent_peer_times_out_and_a_closed_one_is_disconnected() {
        let (s, c) = pair();
        let start = Instant::now();
        let r = serve(
            s.as_fd(),
            &AuthKey::new(b"k"),
            Some(start + Duration::from_millis(100)),
        );
        assert!(matches!(r, Err(ConnectError::HandshakeTimeout)), "{r:?}");
        assert!(start.elapsed() >= Duration::from_millis(100));
        drop(c);
        let r = serve(s.as_fd(), &AuthKey::new(b"k"), soon());
        assert!(matches!(r, Err(ConnectError::Disconnected)), "{r:?}");
    }

    #[test]
    fn the_key_never_shows_and_is_zeroed() {
        let key = AuthKey::from(b"hunter2".to_vec());
        assert_eq!(format!("{key:?}"), "AuthKey(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(key.clone())),
            "Some(AuthKey(<redacted>))"
        );
        let mut bytes = b"secret".to_vec();
        sys::zero(&mut bytes);
        assert_eq!(bytes, [0; 6]);
    }
}
