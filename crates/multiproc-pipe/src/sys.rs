//! Every `unsafe` of multiproc-pipe: the socket calls, each with what makes it sound.

use multiproc_internal::errno::{cvt, cvt_r, invalid_input};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

/// A connected pair of Unix stream sockets, close-on-exec.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded: both are fresh fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `shutdown(2)` of one or both directions.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a live fd.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) }).map(drop)
}

/// `send(2)` of one buffer, never SIGPIPE. Returns how many bytes went; a blocking socket
/// sends at least one unless it fails.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel only reads `buf.len()` bytes from the live slice.
    let rc = cvt_r(|| unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(rc as usize)
}

/// Sends `a` then `b` with one `sendmsg`, never SIGPIPE. As [`send`] otherwise.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, a: &[u8], b: &[u8]) -> io::Result<usize> {
    let mut iov = [a, b].map(|buf| libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    });
    // SAFETY: a zeroed msghdr is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: `msg` points at two iovecs describing live, readable buffers (the kernel only
    // reads through them); no control data.
    let rc = cvt_r(|| unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })?;
    Ok(rc as usize)
}

fn recv_flags(nonblocking: bool) -> libc::c_int {
    if nonblocking {
        libc::MSG_DONTWAIT
    } else {
        0
    }
}

/// Reads into the spare capacity of `buf` (at most `max` bytes), extending its length by what
/// was read. `nonblocking`: `WouldBlock` instead of waiting. `Ok(0)` is end of stream.
pub(crate) fn recv_into_spare(
    fd: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
    nonblocking: bool,
) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    // SAFETY: the kernel writes at most `want` bytes into the vector's spare capacity, which
    // is allocated and exclusively borrowed here.
    let n = cvt_r(|| unsafe {
        libc::recv(
            fd.as_raw_fd(),
            spare.as_mut_ptr().cast(),
            want,
            recv_flags(nonblocking),
        )
    })? as usize;
    // SAFETY: the kernel initialised the first `n <= want <= spare.len()` bytes after the
    // current length.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Reads into `dst`. `nonblocking`: `WouldBlock` instead of waiting. `Ok(0)` is end of
/// stream (or an empty `dst`).
pub(crate) fn recv_into(
    fd: BorrowedFd<'_>,
    dst: &mut [u8],
    nonblocking: bool,
) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `dst.len()` bytes into the exclusively borrowed slice.
    let n = cvt_r(|| unsafe {
        libc::recv(
            fd.as_raw_fd(),
            dst.as_mut_ptr().cast(),
            dst.len(),
            recv_flags(nonblocking),
        )
    })?;
    Ok(n as usize)
}

/// Waits until one of `fds` is readable or hung up, or until `deadline` (`None`: forever).
/// Returns the readiness of each (all false on timeout). Never returns before the deadline
/// without a ready fd.
pub(crate) fn poll_readable(
    fds: &[BorrowedFd<'_>],
    deadline: Option<Instant>,
) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if ppoll_until(&mut pfds, deadline)? {
        Ok(pfds.iter().map(|p| p.revents != 0).collect())
    } else {
        Ok(vec![false; pfds.len()])
    }
}

/// `ppoll(2)` until one of `pfds` is ready (true) or `deadline` passes (false; `None`:
/// forever), retrying on `EINTR` and on early wake-ups.
fn ppoll_until(pfds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Some(libc::timespec {
                    tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: left.subsec_nanos() as libc::c_long,
                })
            }
        };
        let tp = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `pfds` is a live array of `len` pollfds; `tp` is null or a live timespec; no
        // signal mask change.
        let rc = unsafe {
            libc::ppoll(
                pfds.as_mut_ptr(),
                pfds.len() as libc::nfds_t,
                tp,
                std::ptr::null(),
            )
        };
        if rc > 0 {
            return Ok(true);
        }
        if rc == 0 {
            if deadline.is_some_and(|d| Instant::now() < d) {
                continue; // woke early: the deadline holds
            }
            return Ok(false);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The kernel's limit on fds per message (`SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = multiproc_internal::fdpass::MAX_FDS;

/// Control buffer: `MAX_FDS` fds (`CMSG_SPACE(253 * 4)` = 1032 bytes) and room to spare for
/// what a socket option set by someone else could add (credentials, a pidfd, a security
/// label), so that a truncation really means lost fds. As u64s, aligned for `cmsghdr`.
const CONTROL_WORDS: usize = 512;
const _: () = assert!(CONTROL_WORDS * 8 >= 1032 + 1024);

/// `SCM_PIDFD` (Linux 6.5): a pidfd of the sender, installed when `SO_PASSPIDFD` is set.
const SCM_PIDFD: libc::c_int = 0x04;
/// `SO_PASSPIDFD` (Linux 6.5).
const SO_PASSPIDFD: libc::c_int = 76;

/// Sends `a` then `b` with one `sendmsg`, with `fds` (at most [`MAX_FDS`]) attached to the
/// first byte; never SIGPIPE. Returns how many bytes went (the fds go with the first call that
/// sends anything).
pub(crate) fn send_with_fds(
    fd: BorrowedFd<'_>,
    a: &[u8],
    b: &[u8],
    fds: &[RawFd],
) -> io::Result<usize> {
    if fds.is_empty() || fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "between 1 and 253 fds per message",
        ));
    }
    let mut iov = [a, b].map(|buf| libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    });
    let mut control = [0u64; CONTROL_WORDS];
    // SAFETY: a zeroed msghdr is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    let data_len = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is a size computation.
    let space = unsafe { libc::CMSG_SPACE(data_len as u32) } as usize;
    debug_assert!(space <= std::mem::size_of_val(&control));
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer holds `space` bytes (at most CONTROL_WORDS * 8, since
    // fds.len() <= MAX_FDS), enough for one header and `fds.len()` ints, so CMSG_FIRSTHDR is
    // non-null and CMSG_DATA has room for every fd.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(data_len as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast(), fds.len());
    }
    // SAFETY: `msg` points at two iovecs over live, readable buffers and at the initialised
    // control buffer; the kernel only reads through them.
    let rc = cvt_r(|| unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })?;
    Ok(rc as usize)
}

/// Reads into `dst` with `recvmsg`, adding any fds that came with the bytes to `fds`
/// (close-on-exec). `nonblocking`: `WouldBlock` instead of waiting. `Ok(0)` is end of stream.
///
/// # Errors
///
/// OS errors; `InvalidData` if fds were sent but could not all be received (the control data
/// was truncated, for example at the process's fd limit) — the stream cannot go on then.
pub(crate) fn recv_with_fds(
    fd: BorrowedFd<'_>,
    dst: &mut [u8],
    nonblocking: bool,
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: dst.len(),
    };
    // Not zeroed (4 KiB per read): the kernel writes `msg_controllen` bytes and only those
    // are read back.
    let mut control = std::mem::MaybeUninit::<[u64; CONTROL_WORDS]>::uninit();
    // SAFETY: a zeroed msghdr is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = (CONTROL_WORDS * 8) as _;
    let flags = libc::MSG_CMSG_CLOEXEC | recv_flags(nonblocking);
    // SAFETY: `msg` points at one iovec over the exclusively borrowed `dst` and at the control
    // buffer; the kernel writes at most their lengths.
    let n = cvt_r(|| unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) })? as usize;
    if msg.msg_controllen > 0 {
        // SAFETY: the kernel wrote `msg_controllen` bytes of control messages into the buffer
        // (uninitialised before); the CMSG macros walk only within them. An SCM_RIGHTS payload is an array of new fds that this
        // process now owns.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let level = (*c).cmsg_level;
                let ty = (*c).cmsg_type;
                if level == libc::SOL_SOCKET && (ty == libc::SCM_RIGHTS || ty == SCM_PIDFD) {
                    let data = libc::CMSG_DATA(c);
                    let header = data.offset_from(c.cast::<u8>()) as usize;
                    let bytes = ((*c).cmsg_len as usize).saturating_sub(header);
                    for i in 0..bytes / std::mem::size_of::<RawFd>() {
                        let raw = data.cast::<RawFd>().add(i).read_unaligned();
                        if raw >= 0 {
                            let owned = OwnedFd::from_raw_fd(raw);
                            if ty == libc::SCM_RIGHTS {
                                fds.push(owned);
                            } // a pidfd nobody asked for is closed here
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "fds sent with a message were lost (control data truncated: the fd limit?)",
        ));
    }
    Ok(n)
}

/// What a received socket is.
pub(crate) struct SocketKind {
    /// `AF_*`.
    pub(crate) domain: libc::c_int,
    /// `SOCK_*`.
    pub(crate) ty: libc::c_int,
    /// A listening socket (no stream to read).
    pub(crate) listening: bool,
}

fn get_int_option(fd: BorrowedFd<'_>, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live out-parameters of the sizes given.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })
    .map(|_| v)
}

/// A socket's domain, type and whether it listens, to check a received fd.
pub(crate) fn socket_kind(fd: BorrowedFd<'_>) -> io::Result<SocketKind> {
    Ok(SocketKind {
        domain: get_int_option(fd, libc::SO_DOMAIN)?,
        ty: get_int_option(fd, libc::SO_TYPE)?,
        listening: get_int_option(fd, libc::SO_ACCEPTCONN)? != 0,
    })
}

/// Puts back the receive options a socket from someone else may have had changed: no
/// credentials, pidfds or security labels with every read (they would fill the control
/// buffer, or install fds), and reads that return as soon as one byte is there.
pub(crate) fn reset_receive_options(fd: BorrowedFd<'_>) -> io::Result<()> {
    for opt in [libc::SO_PASSCRED, SO_PASSPIDFD, libc::SO_PASSSEC] {
        match set_int_option(fd, libc::SOL_SOCKET, opt, 0) {
            Ok(()) => {}
            // Not a Unix socket, or an older kernel: the option cannot be on.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP)) => {}
            Err(e) => return Err(e),
        }
    }
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 1)
}

// ---- Listener and Client: sockets by address, the handshake's I/O, randomness ----

/// A socket address in the form the kernel takes: IPv4, IPv6 or a Unix path.
pub(crate) enum SockAddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
    /// The address and its length (the path's bytes and a NUL after the family).
    Unix(libc::sockaddr_un, libc::socklen_t),
}

impl SockAddr {
    pub(crate) fn inet(addr: SocketAddr) -> SockAddr {
        match addr {
            SocketAddr::V4(a) => SockAddr::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(a) => SockAddr::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                // As std passes it (in host order).
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
    }

    /// A filesystem Unix socket address.
    ///
    /// Errors: `InvalidInput` for an empty path, a path with a NUL byte (abstract addresses
    /// are not supported) or one of 108 bytes or more (the kernel's limit with the NUL).
    pub(crate) fn unix(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut sun = libc::sockaddr_un {
            sun_family: libc::AF_UNIX as libc::sa_family_t,
            sun_path: [0; 108],
        };
        if bytes.is_empty() || bytes.contains(&0) {
            return Err(invalid_input(
                "a Unix socket path must be non-empty and contain no NUL byte",
            ));
        }
        if bytes.len() >= sun.sun_path.len() {
            return Err(invalid_input(format!(
                "Unix socket path of {} bytes is too long (at most {}): {}",
                bytes.len(),
                sun.sun_path.len() - 1,
                path.display()
            )));
        }
        for (dst, &b) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = b as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
        Ok(SockAddr::Unix(sun, len as libc::socklen_t))
    }

    pub(crate) fn domain(&self) -> libc::c_int {
        match self {
            SockAddr::V4(_) => libc::AF_INET,
            SockAddr::V6(_) => libc::AF_INET6,
            SockAddr::Unix(..) => libc::AF_UNIX,
        }
    }

    fn as_raw(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        fn raw<T>(a: &T) -> (*const libc::sockaddr, libc::socklen_t) {
            (
                (a as *const T).cast(),
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        }
        match self {
            SockAddr::V4(a) => raw(a),
            SockAddr::V6(a) => raw(a),
            SockAddr::Unix(a, len) => ((a as *const libc::sockaddr_un).cast(), *len),
        }
    }
}

/// A stream socket of `domain`, close-on-exec; non-blocking if asked.
pub(crate) fn stream_socket(domain: libc::c_int, nonblocking: bool) -> io::Result<OwnedFd> {
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain syscall with integer arguments.
    let fd = cvt(unsafe { libc::socket(domain, ty, 0) })?;
    // SAFETY: socket succeeded: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fchmod(2)`. On a Unix socket before `bind`, the mode the socket file is created with
/// (less the umask).
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: plain syscall on a live fd.
    cvt_r(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `bind(2)`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    let (ptr, len) = addr.as_raw();
    // SAFETY: `ptr` points at a live socket address of `len` bytes, which the kernel only reads.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), ptr, len) }).map(drop)
}

/// `listen(2)`.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a live fd.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// `accept4(2)`: the next connection, as a blocking, close-on-exec socket. Retries on
/// `EINTR`.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers ask for no peer address; the flags are valid.
    let new = cvt_r(|| unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 succeeded: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// One `connect(2)` attempt (no retry: `EINTR`, `EINPROGRESS`, `EAGAIN` are the caller's).
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    let (ptr, len) = addr.as_raw();
    // SAFETY: `ptr` points at a live socket address of `len` bytes, which the kernel only reads.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), ptr, len) }).map(drop)
}

/// The IPv4 or IPv6 address a socket is bound to (`getsockname(2)`).
pub(crate) fn local_inet_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let mut storage = std::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the storage, which is large and
    // aligned enough for every address family.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), storage.as_mut_ptr().cast(), &mut len) })?;
    // SAFETY: all-zero bytes are a valid sockaddr_storage, and the kernel wrote over them.
    let storage = unsafe { storage.assume_init() };
    let ptr: *const libc::sockaddr_storage = &storage;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, of the length checked
            // above; sockaddr_storage is aligned for it.
            let a = unsafe { std::ptr::read(ptr.cast::<libc::sockaddr_in>()) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { std::ptr::read(ptr.cast::<libc::sockaddr_in6>()) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        family => Err(invalid_input(format!(
            "not an IPv4 or IPv6 socket (address family {family})"
        ))),
    }
}

/// `setsockopt(2)` of an `int` option.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the kernel reads one int from the live `value`.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The pending error of a socket (`SO_ERROR`, which reading clears): how a non-blocking
/// `connect` ended.
pub(crate) fn take_socket_error(fd: BorrowedFd<'_>) -> io::Result<()> {
    match get_int_option(fd, libc::SO_ERROR)? {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Sets or clears `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let new = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: F_SETFL takes an int of flags.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// Waits until `fd` has one of `events` (or an error or hang-up), or until `deadline`
/// (`None`: forever). False on timeout, never before the deadline.
pub(crate) fn poll_one(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    let mut pfd = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    ppoll_until(&mut pfd, deadline)
}

/// `send(2)` without waiting (`WouldBlock` when the buffer is full), never SIGPIPE.
pub(crate) fn send_nonblocking(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel only reads `buf.len()` bytes from the live slice.
    let rc = cvt_r(|| unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    })?;
    Ok(rc as usize)
}

/// Fills `buf` from the kernel's random source (`getrandom(2)`, which blocks only until the
/// pool is first initialised at boot). Retries on `EINTR` and short reads.
pub(crate) fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the kernel writes at most `rest.len()` bytes into the exclusively borrowed
        // slice.
        let n = cvt_r(|| unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) })?;
        if n <= 0 {
            return Err(io::Error::other("getrandom returned no bytes"));
        }
        filled += n as usize;
    }
    Ok(())
}

/// Overwrites `buf` with zeros in a way the compiler cannot drop as a dead store (a secret
/// about to be freed).
pub(crate) fn zero(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, exclusively borrowed byte.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}
