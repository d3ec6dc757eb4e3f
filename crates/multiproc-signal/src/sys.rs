//! Every `unsafe` of multiproc-signal: the libc calls, each with what makes it sound.

use crate::{SignalError, SignalSet};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

pub(crate) fn to_sigset(set: SignalSet) -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid storage; sigemptyset/sigaddset only write inside it.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        for sig in set.iter() {
            libc::sigaddset(&mut s, sig.as_raw());
        }
        s
    }
}

pub(crate) fn from_sigset(s: &libc::sigset_t) -> SignalSet {
    let mut bits = 0u64;
    for n in 1..=64 {
        // SAFETY: sigismember only reads the set; out-of-range numbers return -1.
        if unsafe { libc::sigismember(s, n) } == 1 {
            bits |= 1 << (n - 1);
        }
    }
    SignalSet::from_bits(bits)
}

/// `pthread_sigmask(how, set)`; returns the previous mask.
pub(crate) fn thread_sigmask(how: libc::c_int, set: Option<SignalSet>) -> io::Result<SignalSet> {
    let new = set.map(to_sigset);
    // SAFETY: a zeroed sigset_t is valid storage for the old mask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    let new_ptr = new
        .as_ref()
        .map_or(std::ptr::null(), |s| s as *const libc::sigset_t);
    // SAFETY: both pointers are valid (or null for "no change").
    let rc = unsafe { libc::pthread_sigmask(how, new_ptr, &mut old) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(from_sigset(&old))
}

/// Signals pending for this thread or process.
pub(crate) fn sigpending() -> io::Result<SignalSet> {
    // SAFETY: a zeroed sigset_t is valid storage.
    let mut s: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is a valid out-pointer.
    cvt(unsafe { libc::sigpending(&mut s) })?;
    Ok(from_sigset(&s))
}

/// `pause(2)`: sleeps until a signal runs a handler or terminates the process.
pub(crate) fn pause() {
    // SAFETY: pause has no preconditions; it returns -1/EINTR after a handler ran.
    unsafe { libc::pause() };
}

/// Replaces the mask with `mask` and waits for a handled signal, atomically; restores it.
pub(crate) fn sigsuspend(mask: SignalSet) {
    let m = to_sigset(mask);
    // SAFETY: `m` is a valid set; sigsuspend always returns -1/EINTR after a handler ran.
    unsafe { libc::sigsuspend(&m) };
}

/// `sigtimedwait` for `set` (which must be blocked); `None` on timeout. `None` timeout: forever.
pub(crate) fn sigtimedwait(set: SignalSet, timeout: Option<Duration>) -> io::Result<Option<i32>> {
    let s = to_sigset(set);
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: valid set and (possibly null) timeout; a null siginfo is allowed.
    let rc = unsafe { libc::sigtimedwait(&s, std::ptr::null_mut(), ts_ptr) };
    if rc > 0 {
        return Ok(Some(rc));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) => Ok(None),
        _ => Err(e),
    }
}

/// `kill(pid, sig)`; `sig` 0 checks existence.
pub(crate) fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions; callers validate pid.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `raise(sig)`: the signal is delivered to the calling thread before this returns (unless
/// blocked).
pub(crate) fn raise(sig: i32) -> io::Result<()> {
    // SAFETY: raise has no memory-safety preconditions.
    cvt(unsafe { libc::raise(sig) }).map(drop)
}

pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(pid, 0) returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub(crate) fn pidfd_send_signal(fd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: `fd` is a live pidfd; null siginfo and flags 0 are valid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn alarm(secs: u32) -> u32 {
    // SAFETY: alarm has no preconditions.
    unsafe { libc::alarm(secs) }
}

/// Microseconds, rounded up (as Python does): a non-zero duration below 1 µs must not become
/// zero, which would disarm the timer instead of arming it.
fn timeval(d: Duration) -> libc::timeval {
    let us = d.as_nanos().div_ceil(1000);
    libc::timeval {
        tv_sec: (us / 1_000_000).min(i64::MAX as u128) as libc::time_t,
        tv_usec: (us % 1_000_000) as libc::suseconds_t,
    }
}

fn duration(t: &libc::timeval) -> Duration {
    Duration::new(t.tv_sec.max(0) as u64, 0) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// `setitimer`; returns the old (value, interval).
pub(crate) fn setitimer(
    which: libc::c_int,
    value: Duration,
    interval: Duration,
) -> io::Result<(Duration, Duration)> {
    let new = libc::itimerval {
        it_interval: timeval(interval),
        it_value: timeval(value),
    };
    // SAFETY: a zeroed itimerval is valid storage.
    let mut old: libc::itimerval = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid.
    cvt(unsafe { libc::setitimer(which, &new, &mut old) })?;
    Ok((duration(&old.it_value), duration(&old.it_interval)))
}

/// `getitimer`; returns (value, interval).
pub(crate) fn getitimer(which: libc::c_int) -> io::Result<(Duration, Duration)> {
    // SAFETY: a zeroed itimerval is valid storage.
    let mut cur: libc::itimerval = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    cvt(unsafe { libc::getitimer(which, &mut cur) })?;
    Ok((duration(&cur.it_value), duration(&cur.it_interval)))
}

/// Sets the disposition of `sig` to `SIG_DFL` or `SIG_IGN` (with `flags`).
pub(crate) fn set_disposition(
    sig: i32,
    handler: libc::sighandler_t,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; SIG_DFL/SIG_IGN are valid handlers; sigemptyset
    // writes inside `sa_mask`; the old action pointer may be null.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = flags;
        libc::sigemptyset(&mut sa.sa_mask);
        cvt(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
    }
    Ok(())
}

/// The current handler of `sig` (`SIG_DFL`, `SIG_IGN`, or a function address).
pub(crate) fn disposition(sig: i32) -> io::Result<libc::sighandler_t> {
    // SAFETY: a zeroed sigaction is valid storage; a null new action only queries.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        cvt(libc::sigaction(sig, std::ptr::null(), &mut old))?;
        Ok(old.sa_sigaction)
    }
}

/// Registers `action` to run inside the signal handler for `sig` (through signal-hook).
///
/// # Safety
///
/// `action` must be async-signal-safe (see [`crate::register_raw`]).
pub(crate) unsafe fn register(
    sig: i32,
    action: impl Fn() + Send + Sync + 'static,
) -> Result<signal_hook::SigId, SignalError> {
    // SAFETY: forwarded to the caller; the signal was checked not to be forbidden.
    Ok(unsafe { signal_hook::low_level::register(sig, action) }?)
}
