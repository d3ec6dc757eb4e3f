//! Every `unsafe` of multiproc-pipe: the socket calls, each with what makes it sound.

use multiproc_internal::errno::{cvt, cvt_r};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
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
            return Ok(pfds.iter().map(|p| p.revents != 0).collect());
        }
        if rc == 0 {
            if deadline.is_some_and(|d| Instant::now() < d) {
                continue; // woke early: the deadline holds
            }
            return Ok(vec![false; pfds.len()]);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The kernel's limit on fds per message (`SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = multiproc_internal::fdpass::MAX_FDS;

/// Control buffer for `MAX_FDS` fds: `CMSG_SPACE(253 * 4)` = 1032 bytes, as u64s so that it is
/// aligned for `cmsghdr`.
const CONTROL_WORDS: usize = 129;

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
    let mut control = [0u64; CONTROL_WORDS];
    // SAFETY: a zeroed msghdr is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let flags = libc::MSG_CMSG_CLOEXEC | recv_flags(nonblocking);
    // SAFETY: `msg` points at one iovec over the exclusively borrowed `dst` and at the control
    // buffer; the kernel writes at most their lengths.
    let n = cvt_r(|| unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) })? as usize;
    if msg.msg_controllen > 0 {
        // SAFETY: the kernel wrote `msg_controllen` bytes of control messages; the CMSG macros
        // walk only within them. An SCM_RIGHTS payload is an array of new fds that this
        // process now owns.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c);
                    let header = data.offset_from(c.cast::<u8>()) as usize;
                    let bytes = ((*c).cmsg_len as usize).saturating_sub(header);
                    for i in 0..bytes / std::mem::size_of::<RawFd>() {
                        let raw = data.cast::<RawFd>().add(i).read_unaligned();
                        if raw >= 0 {
                            fds.push(OwnedFd::from_raw_fd(raw));
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

/// A socket's domain (`AF_*`) and type (`SOCK_*`), to check a received fd.
pub(crate) fn socket_kind(fd: BorrowedFd<'_>) -> io::Result<(libc::c_int, libc::c_int)> {
    let get = |opt| {
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
    };
    Ok((get(libc::SO_DOMAIN)?, get(libc::SO_TYPE)?))
}

/// Waits, without a deadline, until `fd` can take more bytes (or has failed).
pub(crate) fn poll_writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd; no timeout.
    cvt_r(|| unsafe { libc::poll(&mut p, 1, -1) }).map(drop)
}
