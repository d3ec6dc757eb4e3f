//! Connections by address: [`Listener`] and [`Client`] (Python's
//! `multiprocessing.connection.Listener` and `Client`).

use crate::auth::{self, AuthKey};
use crate::connection::{Connection, Waitable};
use crate::error::ConnectError;
use crate::sys::{self, SockAddr};
use multiproc_internal::errno::invalid_input;
use std::fmt;
use std::fs::{self, DirBuilder};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the authentication handshake may take by default, on either side: 5 seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default length of a listener's queue of connections not yet accepted: 128 (Python's
/// default is 1).
pub const DEFAULT_BACKLOG: u32 = 128;

/// The mode of a listener's Unix socket file: read and write for its owner only.
const SOCKET_MODE: libc::mode_t = 0o600;
/// The mode of the directory [`Listener::bind_unix_temp`] creates.
const TEMP_DIR_MODE: u32 = 0o700;

/// Where a [`Listener`] listens and a [`Client`] connects: a Unix socket path or a TCP
/// address (Python's `AF_UNIX` and `AF_INET` families).
///
/// # Examples
///
/// ```
/// use multiproc_pipe::Address;
/// use std::net::SocketAddr;
/// use std::path::Path;
///
/// let tcp = Address::from("127.0.0.1:0".parse::<SocketAddr>().unwrap());
/// assert_eq!(tcp.to_string(), "127.0.0.1:0");
/// let unix = Address::from(Path::new("/run/app/sock"));
/// assert_eq!(unix.to_string(), "/run/app/sock");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A Unix-domain socket file (at most 107 bytes; abstract addresses are not supported).
    Unix(PathBuf),
    /// A TCP address, IPv4 or IPv6.
    Tcp(SocketAddr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "{}", path.display()),
            Address::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Tcp(addr)
    }
}

impl From<PathBuf> for Address {
    fn from(path: PathBuf) -> Address {
        Address::Unix(path)
    }
}

impl From<&Path> for Address {
    fn from(path: &Path) -> Address {
        Address::Unix(path.to_path_buf())
    }
}

impl From<&Address> for Address {
    fn from(address: &Address) -> Address {
        address.clone()
    }
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// `Some(key)`, refusing an empty one: it would authenticate anybody who knows the protocol.
fn checked_key(key: &Option<AuthKey>) -> io::Result<Option<&AuthKey>> {
    match key {
        Some(k) if k.as_bytes().is_empty() => Err(invalid_input(
            "an empty authkey authenticates nobody: pass None for no authentication",
        )),
        other => Ok(other.as_ref()),
    }
}

/// Enables `TCP_NODELAY`: small messages go out at once instead of waiting for an ACK.
fn set_nodelay(fd: BorrowedFd<'_>) -> io::Result<()> {
    sys::set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// What a listener removes when it goes: the socket file it created, and the directory
/// [`Listener::bind_unix_temp`] made for it.
#[derive(Debug)]
struct Cleanup {
    socket: PathBuf,
    /// The socket file's identity: a file put at the path by someone else is left alone.
    dev: u64,
    ino: u64,
    dir: Option<PathBuf>,
    /// Only the process that created the socket removes it, not a forked child dropping its
    /// inherited copy.
    creator: u32,
}

impl Cleanup {
    fn run(&self) -> io::Result<()> {
        if std::process::id() != self.creator {
            return Ok(());
        }
        let mut result = match fs::symlink_metadata(&self.socket) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => fs::remove_file(&self.socket),
            Ok(_) => Ok(()), // replaced by another file: not ours
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        if let Some(dir) = &self.dir {
            let r = fs::remove_dir(dir);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// Creates a fresh directory of mode 0700 in `$TMPDIR` (or `/tmp`), like `mkdtemp(3)`.
fn make_temp_dir() -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let mut r = [0u8; 8];
        sys::getrandom(&mut r)?;
        let dir = base.join(format!("multiproc-listener-{:016x}", u64::from_ne_bytes(r)));
        match DirBuilder::new().mode(TEMP_DIR_MODE).create(&dir) {
            Ok(()) => {
                // The umask may have taken bits away: set exactly 0700.
                if let Err(e) = fs::set_permissions(&dir, fs::Permissions::from_mode(TEMP_DIR_MODE))
                {
                    let _ = fs::remove_dir(&dir);
                    return Err(e);
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no unused temporary directory name found",
    ))
}

/// Binds a listening Unix socket at `path`, mode 0600 from the start.
fn bind_unix(path: &Path, backlog: libc::c_int) -> io::Result<(OwnedFd, Cleanup)> {
    let addr = SockAddr::unix(path)?;
    let fd = sys::stream_socket(libc::AF_UNIX, false)?;
    // On Linux, bind creates the socket file with the socket inode's mode (less the umask):
    // set it first, so the path never exists with a wider mode.
    sys::fchmod(fd.as_fd(), SOCKET_MODE)?;
    sys::bind(fd.as_fd(), &addr)?;
    let identity = fs::symlink_metadata(path);
    let listening = sys::listen(fd.as_fd(), backlog);
    match (identity, listening) {
        (Ok(m), Ok(())) => Ok((
            fd,
            Cleanup {
                socket: path.to_path_buf(),
                dev: m.dev(),
                ino: m.ino(),
                dir: None,
                creator: std::process::id(),
            },
        )),
        (Err(e), _) | (_, Err(e)) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
    }
}

/// Binds a listening TCP socket; returns it with the address it got (the real port for
/// port 0).
fn bind_tcp(addr: SocketAddr, backlog: libc::c_int) -> io::Result<(OwnedFd, SocketAddr)> {
    let sa = SockAddr::inet(addr);
    let fd = sys::stream_socket(sa.domain(), false)?;
    // As Python and std do: a restarted server can bind its port again at once.
    sys::set_int_option(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    sys::bind(fd.as_fd(), &sa)?;
    sys::listen(fd.as_fd(), backlog)?;
    let local = sys::local_inet_addr(fd.as_fd())?;
    Ok((fd, local))
}

/// Settings for a [`Listener`]: its key, handshake timeout and backlog.
///
/// # Examples
///
/// ```
/// use multiproc_pipe::Listener;
/// use std::time::Duration;
/// # fn main() -> std::io::Result<()> {
/// let listener = Listener::builder()
///     .authkey(b"secret")
///     .handshake_timeout(Duration::from_secs(1))
///     .backlog(16)
///     .bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())?;
/// assert_ne!(listener.address().to_string(), "127.0.0.1:0"); // the real port
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ListenerBuilder {
    authkey: Option<AuthKey>,
    handshake_timeout: Duration,
    backlog: u32,
}

impl Default for ListenerBuilder {
    fn default() -> ListenerBuilder {
        ListenerBuilder {
            authkey: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            backlog: DEFAULT_BACKLOG,
        }
    }
}

impl ListenerBuilder {
    /// Settings with no key, [`DEFAULT_HANDSHAKE_TIMEOUT`] and [`DEFAULT_BACKLOG`].
    pub fn new() -> ListenerBuilder {
        ListenerBuilder::default()
    }

    /// Clients must prove they hold `key` (a copy is kept, zeroed when dropped). Without a
    /// key there is no handshake at all, as in Python.
    pub fn authkey(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.authkey = Some(AuthKey::new(key.as_ref()));
        self
    }

    /// How long [`accept`](Listener::accept) lets a connected client take over the
    /// handshake (default [`DEFAULT_HANDSHAKE_TIMEOUT`]). Connections are accepted one at a
    /// time, so this also bounds how long one silent client delays the next.
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How many connections may wait to be accepted (`listen(2)`'s backlog, capped by the
    /// kernel's `net.core.somaxconn`; default [`DEFAULT_BACKLOG`]).
    pub fn backlog(&mut self, backlog: u32) -> &mut Self {
        self.backlog = backlog;
        self
    }

    fn listener(&self, fd: OwnedFd, address: Address, cleanup: Option<Cleanup>) -> Listener {
        Listener {
            fd,
            address,
            authkey: self.authkey.clone(),
            handshake_timeout: self.handshake_timeout,
            cleanup,
        }
    }

    fn backlog_int(&self) -> libc::c_int {
        libc::c_int::try_from(self.backlog).unwrap_or(libc::c_int::MAX)
    }

    /// Listens at `address`: a Unix socket file (created with mode 0600; it must not exist
    /// yet) or a TCP address (port 0 picks a free port: see [`Listener::address`]).
    ///
    /// # Errors
    ///
    /// `AddrInUse` when the path or port is taken, `InvalidInput` for an empty key or a Unix
    /// path that is empty, too long (over 107 bytes) or holds a NUL byte, and other OS errors
    /// (`EACCES`, `ENOENT` for a missing directory, …).
    pub fn bind(&self, address: impl Into<Address>) -> io::Result<Listener> {
        checked_key(&self.authkey)?;
        match address.into() {
            Address::Unix(path) => {
                let (fd, cleanup) = bind_unix(&path, self.backlog_int())?;
                Ok(self.listener(fd, Address::Unix(path), Some(cleanup)))
            }
            Address::Tcp(addr) => {
                let (fd, local) = bind_tcp(addr, self.backlog_int())?;
                Ok(self.listener(fd, Address::Tcp(local), None))
            }
        }
    }

    /// Listens on a Unix socket in a fresh directory that only this user can enter (mode
    /// 0700, in `$TMPDIR` or `/tmp`), like Python's `Listener()` without an address. The
    /// listener removes both when it is dropped.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind); also errors creating the directory, and `InvalidInput` when
    /// `$TMPDIR` is so long that the socket path exceeds 107 bytes.
    pub fn bind_unix_temp(&self) -> io::Result<Listener> {
        checked_key(&self.authkey)?;
        let dir = make_temp_dir()?;
        let path = dir.join("listener.sock");
        match bind_unix(&path, self.backlog_int()) {
            Ok((fd, mut cleanup)) => {
                cleanup.dir = Some(dir);
                Ok(self.listener(fd, Address::Unix(path), Some(cleanup)))
            }
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }
}

/// A socket that accepts connections, each becoming a [`Connection`]: Python's
/// `multiprocessing.connection.Listener`.
///
/// With a key, every accepted client must first pass a mutual HMAC-SHA256 handshake (each
/// side proves it holds the key without sending it), bounded by a timeout; only then does
/// [`accept`](Self::accept) return its connection. Without a key anyone who can reach the
/// address is accepted at once — on TCP, anyone on the network.
///
/// A Unix socket file is created with mode 0600; the listener removes it when dropped (only
/// in the process that created it, and only if it is still the same file), and removes the
/// directory of [`bind_unix_temp`](Self::bind_unix_temp). Sockets are close-on-exec and
/// blocking; TCP connections have `TCP_NODELAY` set.
///
/// # Examples
///
/// A server and a client (threads here; processes in real use):
///
/// ```
/// use multiproc_pipe::{Client, Listener};
/// # fn main() -> std::io::Result<()> {
/// let listener = Listener::bind_unix_temp(Some(b"secret"))?;
/// let address = listener.address().clone();
/// let client = std::thread::spawn(move || -> std::io::Result<u32> {
///     let mut conn = Client::connect(&address, Some(b"secret"))?;
///     conn.send(&"ping")?;
///     Ok(conn.recv::<u32>()?)
/// });
/// let mut conn = listener.accept()?;
/// assert_eq!(conn.recv::<String>()?, "ping");
/// conn.send(&42u32)?;
/// assert_eq!(client.join().unwrap()?, 42);
/// # Ok(()) }
/// ```
pub struct Listener {
    fd: OwnedFd,
    address: Address,
    authkey: Option<AuthKey>,
    handshake_timeout: Duration,
    cleanup: Option<Cleanup>,
}

impl Listener {
    /// Listens at `address` with `authkey` (`None`: no authentication) and the default
    /// settings: Python's `Listener(address, authkey=authkey)`. See
    /// [`ListenerBuilder::bind`].
    ///
    /// # Errors
    ///
    /// As [`ListenerBuilder::bind`].
    pub fn bind(address: impl Into<Address>, authkey: Option<&[u8]>) -> io::Result<Listener> {
        let mut builder = Listener::builder();
        if let Some(key) = authkey {
            builder.authkey(key);
        }
        builder.bind(address)
    }

    /// Listens on a Unix socket in a fresh private directory: Python's `Listener()` without
    /// an address. See [`ListenerBuilder::bind_unix_temp`].
    ///
    /// # Errors
    ///
    /// As [`ListenerBuilder::bind_unix_temp`].
    pub fn bind_unix_temp(authkey: Option<&[u8]>) -> io::Result<Listener> {
        let mut builder = Listener::builder();
        if let Some(key) = authkey {
            builder.authkey(key);
        }
        builder.bind_unix_temp()
    }

    /// Settings beyond the address and key: the handshake timeout and the backlog.
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder::new()
    }

    /// Waits for the next connection and, with a key, authenticates it (Python's
    /// `accept()`). One connection is handled at a time: a client that connects and stays
    /// silent holds the next ones up for the handshake timeout at most.
    ///
    /// # Errors
    ///
    /// With a key: [`ConnectError::AuthenticationFailed`] when the client holds another key
    /// (it is told, and reports the same), [`ConnectError::Protocol`] when it sends
    /// something else than the handshake (a client without a key that sends a message
    /// first), [`ConnectError::Disconnected`] when it leaves during the handshake (a client
    /// without a key that receives first: it reads the challenge as an oversize message and
    /// closes), and [`ConnectError::HandshakeTimeout`] when it does not complete the
    /// handshake in time (a silent client). The refused connection is closed; the listener
    /// stays usable. [`ConnectError::Io`] for errors of `accept(2)` itself (`EMFILE`, …).
    pub fn accept(&self) -> Result<Connection, ConnectError> {
        let fd = loop {
            match sys::accept(self.fd.as_fd()) {
                Ok(fd) => break fd,
                // The client left before it was accepted: wait for the next one.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e) => return Err(ConnectError::Io(e)),
            }
        };
        let unix = matches!(self.address, Address::Unix(_));
        if !unix {
            set_nodelay(fd.as_fd()).map_err(ConnectError::Io)?;
        }
        if let Some(key) = &self.authkey {
            auth::serve(fd.as_fd(), key, deadline_after(self.handshake_timeout))?;
        }
        Ok(Connection::from_socket(fd, unix))
    }

    /// The address clients connect to; for TCP the port really bound (not 0).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Stops listening and removes the socket file (and the directory of
    /// [`bind_unix_temp`](Self::bind_unix_temp)), reporting errors that dropping ignores.
    /// Python's `close()`.
    ///
    /// # Errors
    ///
    /// Errors removing the file or the directory (the socket is closed regardless).
    pub fn close(mut self) -> io::Result<()> {
        match self.cleanup.take() {
            Some(c) => c.run(),
            None => Ok(()),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(c) = self.cleanup.take() {
            let _ = c.run();
        }
    }
}

impl AsFd for Listener {
    /// The listening socket: readable when a connection waits to be accepted (then
    /// [`accept`](Listener::accept) does not wait for one, though it still runs the
    /// handshake). Do not accept on it directly.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Waitable for Listener {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("fd", &self.fd)
            .field("address", &self.address)
            .field("authkey", &self.authkey)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

/// Connects to a [`Listener`]: Python's `multiprocessing.connection.Client`.
///
/// With a key, the connection is returned only after the mutual handshake proved that the
/// listener holds the same key (and the listener learned the same of this side).
///
/// # Examples
///
/// Over TCP, with timeouts:
///
/// ```
/// use multiproc_pipe::{Client, Listener};
/// use std::time::Duration;
/// # fn main() -> std::io::Result<()> {
/// let listener = Listener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), Some(b"key"))?;
/// let address = listener.address().clone();
/// let server = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
///     Ok(listener.accept()?.recv_bytes()?)
/// });
/// let mut conn = Client::builder()
///     .authkey(b"key")
///     .connect_timeout(Duration::from_secs(2))
///     .handshake_timeout(Duration::from_secs(2))
///     .connect(&address)?;
/// conn.send_bytes(b"over tcp")?;
/// assert_eq!(server.join().unwrap()?, b"over tcp");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Client {
    _private: (),
}

impl Client {
    /// Connects to `address` with `authkey` (`None`: no authentication) and the default
    /// settings: Python's `Client(address, authkey=authkey)`. See [`ClientBuilder::connect`].
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::connect`].
    pub fn connect(
        address: impl Into<Address>,
        authkey: Option<&[u8]>,
    ) -> Result<Connection, ConnectError> {
        let mut builder = Client::builder();
        if let Some(key) = authkey {
            builder.authkey(key);
        }
        builder.connect(address)
    }

    /// Settings beyond the address and key: the connect and handshake timeouts.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }
}

/// Settings for [`Client`]: its key and timeouts.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    authkey: Option<AuthKey>,
    handshake_timeout: Duration,
    connect_timeout: Option<Duration>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            authkey: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            connect_timeout: None,
        }
    }
}

impl ClientBuilder {
    /// Settings with no key, [`DEFAULT_HANDSHAKE_TIMEOUT`] and no connect timeout.
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Prove to the listener that this side holds `key`, and require the same of it (a copy
    /// is kept, zeroed when dropped).
    pub fn authkey(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.authkey = Some(AuthKey::new(key.as_ref()));
        self
    }

    /// How long the handshake may take once connected (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]). It starts when the connection is established, which
    /// happens before the listener accepts it: a listener that is slow to call `accept`
    /// counts against it.
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long establishing the connection may take (default: as long as the system
    /// takes, as in Python). TCP: until the SYN is answered. Unix: a listener whose backlog
    /// is full makes connecting wait for room, retried at growing intervals up to 50 ms.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Connects to `address` and, with a key, runs the handshake.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Io`] when connecting fails (`ConnectionRefused`, `NotFound` for a
    /// missing socket file, `InvalidInput` for an empty key or a bad Unix path, …);
    /// [`ConnectError::ConnectTimeout`].
    ///
    /// With a key: [`ConnectError::AuthenticationFailed`] when the listener holds another
    /// key, [`ConnectError::Protocol`] when it sends something else than the handshake (a
    /// listener without a key that sends a message first),
    /// [`ConnectError::HandshakeTimeout`] when the handshake does not complete in time (a
    /// listener without a key that waits for a message, or one that does not accept), and
    /// [`ConnectError::Disconnected`] when the listener closes the connection during it.
    pub fn connect(&self, address: impl Into<Address>) -> Result<Connection, ConnectError> {
        let key = checked_key(&self.authkey).map_err(ConnectError::Io)?;
        let address = address.into();
        let deadline = self.connect_timeout.and_then(deadline_after);
        let (fd, unix) = match &address {
            Address::Unix(path) => (connect_unix(path, deadline)?, true),
            Address::Tcp(addr) => (connect_tcp(*addr, deadline)?, false),
        };
        if let Some(key) = key {
            auth::answer(fd.as_fd(), key, deadline_after(self.handshake_timeout))?;
        }
        Ok(Connection::from_socket(fd, unix))
    }
}

/// Connects a Unix stream socket to `path`; returns it blocking.
fn connect_unix(path: &Path, deadline: Option<Instant>) -> Result<OwnedFd, ConnectError> {
    let addr = SockAddr::unix(path).map_err(ConnectError::Io)?;
    let Some(deadline) = deadline else {
        // Blocking: the kernel waits for room in a full backlog. An interrupted wait left
        // the socket unconnected, so trying again is right.
        let fd = sys::stream_socket(libc::AF_UNIX, false).map_err(ConnectError::Io)?;
        loop {
            match sys::connect(fd.as_fd(), &addr) {
                Ok(()) => return Ok(fd),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnectError::Io(e)),
            }
        }
    };
    // Non-blocking, a full backlog is EAGAIN, and nothing can be polled for room: retry at
    // growing intervals until the deadline.
    let fd = sys::stream_socket(libc::AF_UNIX, true).map_err(ConnectError::Io)?;
    let mut pause = Duration::from_millis(1);
    loop {
        match sys::connect(fd.as_fd(), &addr) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ConnectError::ConnectTimeout);
                }
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(ConnectError::Io(e)),
        }
    }
    sys::set_nonblocking(fd.as_fd(), false).map_err(ConnectError::Io)?;
    Ok(fd)
}

/// Connects a TCP socket to `addr` with `TCP_NODELAY`; returns it blocking.
fn connect_tcp(addr: SocketAddr, deadline: Option<Instant>) -> Result<OwnedFd, ConnectError> {
    let sa = SockAddr::inet(addr);
    let fd = sys::stream_socket(sa.domain(), true).map_err(ConnectError::Io)?;
    match sys::connect(fd.as_fd(), &sa) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            match sys::poll_one(fd.as_fd(), libc::POLLOUT, deadline) {
                Ok(true) => sys::take_socket_error(fd.as_fd()).map_err(ConnectError::Io)?,
                Ok(false) => return Err(ConnectError::ConnectTimeout),
                Err(e) => return Err(ConnectError::Io(e)),
            }
        }
        Err(e) => return Err(ConnectError::Io(e)),
    }
    sys::set_nonblocking(fd.as_fd(), false).map_err(ConnectError::Io)?;
    set_nodelay(fd.as_fd()).map_err(ConnectError::Io)?;
    Ok(fd)
}
