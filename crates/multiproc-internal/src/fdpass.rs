//! Passing file descriptors between processes over a Unix socket (`SCM_RIGHTS`).
//!
//! The limits that bite: at most [`MAX_FDS`] fds and at least one data byte per message;
//! fds that do not fit the control buffer are closed silently by the kernel (`MSG_CTRUNC`,
//! reported here as an error); received fds are close-on-exec (`MSG_CMSG_CLOEXEC`); fds in
//! flight count against `RLIMIT_NOFILE` (`ETOOMANYREFS`). Sends use `MSG_NOSIGNAL`: a dead
//! peer is `BrokenPipe`, never SIGPIPE.

use crate::errno::{cvt_r, invalid_data, invalid_input};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The kernel's limit on fds per `SCM_RIGHTS` message (`SCM_MAX_FD`).
pub const MAX_FDS: usize = 253;

fn cmsg_space(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation.
    unsafe { libc::CMSG_SPACE((n * std::mem::size_of::<RawFd>()) as u32) as usize }
}

/// Sends `data` (at least one byte) with `fds` attached, in one message.
///
/// # Errors
///
/// `InvalidInput` for empty data or too many fds; `BrokenPipe` if the peer is gone; other OS
/// errors (`ETOOMANYREFS` when too many fds are in flight).
pub fn send_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    if data.is_empty() {
        return Err(invalid_input(
            "an fd-passing message needs at least one data byte",
        ));
    }
    if fds.len() > MAX_FDS {
        return Err(invalid_input(format!(
            "{} fds in one message; the kernel takes at most {MAX_FDS}",
            fds.len()
        )));
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut cbuf = vec![0u64; cmsg_space(fds.len()).div_ceil(8)];
    // SAFETY: zeroed msghdr is a valid "empty" value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = cmsg_space(fds.len()) as _;
        // SAFETY: msg_control points at a buffer of msg_controllen bytes, big enough for one
        // cmsghdr carrying `fds.len()` ints (CMSG_SPACE); CMSG_FIRSTHDR is therefore non-null.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((fds.len() * std::mem::size_of::<RawFd>()) as u32) as _;
            let dst = libc::CMSG_DATA(c).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                dst.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    // SAFETY: `msg` references live buffers for the duration of the call.
    let n = cvt_r(|| unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })?;
    Ok(n as usize)
}

/// Receives one message into `buf` with up to `max_fds` fds attached. Returns the byte count
/// (0 = the peer closed) and the fds, owned and close-on-exec.
///
/// # Errors
///
/// `InvalidData` if the sender attached more fds than `max_fds` (the surplus was closed by
/// the kernel; the ones that arrived are closed here too) or a malformed control message; OS
/// errors from `recvmsg`.
pub fn recv_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let max_fds = max_fds.min(MAX_FDS);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let space = cmsg_space(max_fds.max(1));
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: zeroed msghdr is a valid "empty" value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` references live buffers for the duration of the call.
    let n = cvt_r(|| unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG_* macros walk only
    // within it. Each SCM_RIGHTS payload is an array of ints that are new fds owned by us.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c);
                let bytes =
                    ((*c).cmsg_len as usize).saturating_sub(data.offset_from(c.cast()) as usize);
                let count = bytes / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let fd = data.cast::<RawFd>().add(i).read_unaligned();
                    if fd >= 0 {
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    // The control buffer is rounded up, so a few surplus fds can arrive without MSG_CTRUNC.
    if msg.msg_flags & libc::MSG_CTRUNC != 0 || fds.len() > max_fds {
        // `fds` drops here, closing what did arrive.
        return Err(invalid_data(format!(
            "peer sent more than {max_fds} fds; the surplus was discarded"
        )));
    }
    Ok((n as usize, fds))
}
