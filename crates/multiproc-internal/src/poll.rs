//! Waiting for one fd to become readable, with a timeout that holds.

use crate::clock::Deadline;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// Waits until `fd` is readable (or hung up) or `timeout` passes (`None`: no limit). Retries
/// after signals with the time that is left; never returns `false` before `timeout`.
///
/// # Errors
///
/// OS errors of `poll` other than `EINTR`.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    // A timeout too large to represent waits without a limit.
    let deadline = timeout.and_then(Deadline::after);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                // Round up so that a timeout never returns before it was due.
                let r = d.remaining();
                let ms = r.as_millis() + u128::from(r.subsec_nanos() % 1_000_000 != 0);
                ms.min(i32::MAX as u128) as i32
            }
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 {
            return Ok(true);
        }
        if rc == 0 {
            if deadline.is_none_or(|d| d.has_passed()) {
                return Ok(false);
            }
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
