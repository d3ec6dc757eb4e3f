//! The forkserver start method: a server process, started once by `fork` + `exec` (so it is
//! single-threaded whatever the client is), forks a worker per request and relays each
//! worker's exit status.
//!
//! The client talks to it over a private `SOCK_SEQPACKET` socket. A request is a 12-byte
//! header (magic, flags, handle count) with fds attached: the job (a memfd, as for the spawn
//! method), the write end of a status pipe, the client's pidfd, the result memfd if a value
//! is wanted, then the argument's handles. The reply is the worker's pid (or `-errno`) with
//! the worker's pidfd attached (opened by the server, its parent: no race with its exit).
//! The client signals the worker through that pidfd; the server reaps the worker and writes
//! its status into the status pipe. A worker that ends normally writes its exit code there
//! itself first, just before it ends: its client, woken by the worker's pidfd, finds it at
//! once (one wake-up across processes instead of two); the server's relay, which follows,
//! is then never read. The server exits
//! when the client's end of the socket closes (the client exited); workers live on as
//! orphans, and daemonic ones watch the client's pidfd.

use crate::exec::{self, EncodedJob};
use crate::registry::{self, Becomes, ChildState};
use crate::sys;
use crate::ProcessError;
use multiproc_internal::{fdpass, identity};
use multiproc_signal::{Pid, Signal};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::sync::{Arc, MutexGuard};

const SERVER_ENV: &str = "MULTIPROC_FORKSERVER";
const MAGIC: u32 = 0x4d50_4653; // "MPFS"
const FLAG_RESULT: u32 = 1;
/// The fds of a request before the handles: job, status pipe, client pidfd, result.
const FIXED_FDS: usize = 4;

/// This process's connection to its forkserver.
#[derive(Debug)]
pub(crate) struct Client {
    /// The process that started the server: a child forked since must start its own.
    owner: i32,
    sock: OwnedFd,
    server: std::process::Child,
    /// The server's pidfd: readable once it has died, so a request never waits for a reply
    /// that cannot come.
    server_pidfd: OwnedFd,
}

/// Renewable (see `sys::RenewableMutex`): the child of a fork made outside this crate while
/// another thread talked to the server starts with no client rather than wait for good.
static CLIENT: sys::RenewableMutex<Option<Client>> = sys::RenewableMutex::new(None, || None);

/// The forkserver client, locked (held across forks, see `registry::ForkLocks`).
pub(crate) type ClientGuard = MutexGuard<'static, Option<Client>>;

pub(crate) fn lock_client() -> ClientGuard {
    CLIENT.get().lock().unwrap_or_else(|p| p.into_inner())
}

/// In the child of a fork made outside this crate: a client mutex left locked by a thread
/// that does not exist here is replaced.
pub(crate) fn renew_client_if_locked() {
    CLIENT.renew_if_locked();
}

/// In a forked child: the parent's forkserver is not the child's. Its socket is closed (so
/// the server does not outlive the parent because of this child) and the server's handle
/// forgotten (it is not the child's to wait for).
pub(crate) fn forget_in_child(slot: &mut ClientGuard) {
    if let Some(old) = slot.take() {
        drop(old.sock);
        std::mem::forget(old.server);
    }
}

fn connect(slot: &mut Option<Client>) -> Result<&Client, ProcessError> {
    let me = identity::pid();
    if slot.as_ref().is_some_and(|c| c.owner != me) {
        // Inherited through a fork: the parent's server. Forget it (closing our copy of the
        // socket; the parent keeps its own), without waiting for a process that is not ours.
        if let Some(old) = slot.take() {
            drop(old.sock);
            std::mem::forget(old.server);
        }
    }
    if let Some(c) = slot.as_mut() {
        // A server that died is reaped and replaced.
        if matches!(c.server.try_wait(), Ok(Some(_)) | Err(_)) {
            *slot = None;
        }
    }
    if slot.is_none() {
        let (ours, theirs) = sys::seqpacket_pair()?;
        let mut cmd = std::process::Command::new("/proc/self/exe");
        if let Some(arg0) = std::env::args_os().next() {
            cmd.arg0(arg0);
        }
        cmd.env(
            SERVER_ENV,
            format!("{}:{}", theirs.as_raw_fd(), sys::fingerprint()),
        );
        sys::keep_fds_across_exec(&mut cmd, vec![theirs.as_raw_fd()]);
        let mut server = cmd.spawn()?;
        drop(theirs);
        let server_pidfd = match sys::pidfd_open(server.id() as libc::pid_t) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = server.kill();
                let _ = server.wait();
                return Err(e.into());
            }
        };
        *slot = Some(Client {
            owner: me,
            sock: ours,
            server,
            server_pidfd,
        });
    }
    slot.as_ref().ok_or(ProcessError::ForkserverDied)
}

/// Starts `job` in a worker of this process's forkserver (starting the server first if need
/// be); with `result`, the worker leaves its outcome there.
pub(crate) fn start(
    job: EncodedJob,
    becomes: Becomes,
    result: Option<&File>,
) -> Result<Arc<ChildState>, ProcessError> {
    exec::check_code(&job)?;
    registry::ensure_exit_hook();
    registry::reap_finished();
    // Not while holding the client (a fork holds stdout first, then the client).
    let _ = io::stdout().flush();
    // Holding the client keeps this crate's forks out while the request's fds exist: a
    // sibling child never inherits the status pipe (which would delay its end of file).
    let mut slot = lock_client();
    let job_file = exec::job_file(&job, &becomes, Vec::new(), None)?;
    let (status_r, status_w) = sys::status_pipe()?;
    let me = registry::self_pidfd()?;
    let handles = &job.collected.fds;
    if handles.len() + FIXED_FDS > fdpass::MAX_FDS {
        return Err(ProcessError::Argument(format!(
            "{} handles in one argument; the forkserver takes at most {}",
            handles.len(),
            fdpass::MAX_FDS - FIXED_FDS
        )));
    }
    let mut header = [0u8; 12];
    header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    let flags = if result.is_some() { FLAG_RESULT } else { 0 };
    header[4..8].copy_from_slice(&flags.to_le_bytes());
    header[8..12].copy_from_slice(&(handles.len() as u32).to_le_bytes());
    let mut fds: Vec<BorrowedFd<'_>> = vec![job_file.as_fd(), status_w.as_fd(), me.as_fd()];
    fds.extend(result.map(AsFd::as_fd));
    fds.extend(handles.iter().map(AsFd::as_fd));

    let client = connect(&mut slot)?;
    let reply = exchange(
        client.sock.as_fd(),
        client.server_pidfd.as_fd(),
        &header,
        &fds,
    );
    let (pid, pidfd) = match reply {
        Ok(r) => r,
        Err(Trouble::Refused(e)) => return Err(e.into()),
        Err(Trouble::ServerGone) => {
            // The next start begins a new server.
            if let Some(old) = slot.take() {
                let mut server = old.server;
                let _ = server.kill();
                let _ = server.wait();
            }
            return Err(ProcessError::ForkserverDied);
        }
    };
    drop(slot);
    drop(status_w);
    job.collected.mark_moved();
    Ok(registry::register_relayed(
        pid,
        pidfd,
        status_r,
        becomes.name,
        becomes.daemon,
    ))
}

/// Why a request got no worker.
enum Trouble {
    /// The server is gone (or its socket broke): it is replaced at the next start.
    ServerGone,
    /// The server or this process refused (out of processes or fds, …); the server is fine.
    Refused(io::Error),
}

/// Sends a request and reads the reply, never waiting past the server's death.
fn exchange(
    sock: BorrowedFd<'_>,
    server: BorrowedFd<'_>,
    header: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(Pid, OwnedFd), Trouble> {
    let gone = |e: &io::Error| {
        matches!(
            e.raw_os_error(),
            Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
        )
    };
    if let Err(e) = fdpass::send_fds(sock, header, fds) {
        return Err(if gone(&e) {
            Trouble::ServerGone
        } else {
            Trouble::Refused(e)
        });
    }
    // The reply, or the server's end.
    match sys::poll_many(&[sock, server]) {
        Ok(ready) if ready.first().copied().unwrap_or(false) => {}
        Ok(_) => return Err(Trouble::ServerGone),
        Err(e) => return Err(Trouble::Refused(e)),
    }
    let mut buf = [0u8; 8];
    let (n, mut got) = match fdpass::recv_fds(sock, &mut buf, 1) {
        Ok(r) => r,
        Err(e) if gone(&e) => return Err(Trouble::ServerGone),
        Err(e) => return Err(Trouble::Refused(e)),
    };
    // End of file (0) or a reply of the wrong size: the server is gone or confused.
    if n != 4 {
        return Err(Trouble::ServerGone);
    }
    let pid = i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if pid <= 0 {
        let code = if pid == 0 {
            libc::EINVAL
        } else {
            pid.saturating_neg()
        };
        return Err(Trouble::Refused(io::Error::from_raw_os_error(code)));
    }
    match got.pop() {
        Some(pidfd) if got.is_empty() => Ok((Pid::from_raw(pid), pidfd)),
        _ => Err(Trouble::Refused(io::Error::new(
            io::ErrorKind::InvalidData,
            "the forkserver's reply came without the worker's pidfd",
        ))),
    }
}

// ---- The server. ----

fn fail(what: &str) -> ! {
    let _ = writeln!(io::stderr(), "multiproc: the forkserver cannot run: {what}");
    sys::exit_now(1)
}

/// Called by the entry hook before `main`: returns at once unless this process was started
/// as a forkserver; otherwise serves until its client is gone, and ends the process.
pub(crate) fn serve_if_asked() {
    let Some(value) = std::env::var_os(SERVER_ENV) else {
        return;
    };
    // A server for another copy of this crate (another version) is left to that copy's hook.
    let Some((fd, mark)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return;
    };
    if mark != sys::fingerprint() {
        return;
    }
    let fd = fd.to_owned();
    std::env::remove_var(SERVER_ENV);
    if sys::is_secure_exec() {
        fail("refused in a set-user-ID or set-group-ID program");
    }
    let Ok(fd) = fd.parse::<RawFd>() else {
        fail("MULTIPROC_FORKSERVER does not start with an fd number");
    };
    match sys::take_inherited_fd(fd) {
        Ok(sock) => serve(sock),
        Err(e) => fail(&format!("its socket: {e}")),
    }
}

/// A worker the server started and has not reaped yet.
struct Worker {
    pidfd: OwnedFd,
    status: OwnedFd,
}

fn serve(sock: OwnedFd) -> ! {
    // Whatever the client ignores (`exec` keeps SIG_IGN): the server must reap its workers
    // itself (SIGCHLD at its default) and must outlive a Ctrl-C to the terminal's process
    // group (SIGINT ignored, as Python's forkserver does; workers get the default back).
    let _ = multiproc_signal::ignore(Signal::Pipe);
    let _ = multiproc_signal::set_default(Signal::Chld);
    let _ = multiproc_signal::ignore(Signal::Int);
    let mut sock = Some(sock);
    let mut workers: Vec<Worker> = Vec::new();
    loop {
        let Some(s) = sock.as_ref() else {
            sys::exit_now(0)
        };
        let mut watched: Vec<BorrowedFd<'_>> = vec![s.as_fd()];
        watched.extend(workers.iter().map(|w| w.pidfd.as_fd()));
        let ready = match sys::poll_many(&watched) {
            Ok(r) => r,
            Err(e) => fail(&format!("poll: {e}")),
        };
        drop(watched);
        let mut i = 0;
        workers.retain(|w| {
            i += 1;
            if !ready.get(i).copied().unwrap_or(false) {
                return true;
            }
            match sys::waitid_pidfd(w.pidfd.as_fd(), true) {
                Ok(None) => true,
                Ok(Some(raw)) => {
                    let _ = sys::write_all_fd(w.status.as_fd(), &sys::encode_relayed_status(raw));
                    false
                }
                // Not reapable (cannot happen for our own child): drop it; its client sees
                // the end of the status pipe.
                Err(_) => false,
            }
        });
        if ready.first().copied().unwrap_or(false) {
            let mut buf = [0u8; 64];
            match fdpass::recv_fds(s.as_fd(), &mut buf, fdpass::MAX_FDS) {
                // The client is gone: so is the server.
                Ok((0, _)) => sys::exit_now(0),
                Ok((n, fds)) => {
                    let reply = start_worker(&buf[..n], fds, &mut sock, &mut workers);
                    if let Some(s) = sock.as_ref() {
                        let sent_pid = reply.as_ref().ok().map(|(pid, _)| *pid);
                        if send_reply(s.as_fd(), reply).is_err() {
                            // The client cannot know of the worker: it must not run.
                            if let Some(pid) = sent_pid {
                                let _ = multiproc_signal::kill(Pid::from_raw(pid), Signal::Kill);
                            }
                            let err = io::Error::from_raw_os_error(libc::EAGAIN);
                            let _ = send_reply(s.as_fd(), Err(err));
                        }
                    }
                }
                // A message whose fds could not all be received (this process is out of
                // fds, or too many came): they were closed; the client is told.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let _ = send_reply(s.as_fd(), Err(io::Error::from_raw_os_error(libc::EMFILE)));
                }
                Err(_) => sys::exit_now(0),
            }
        }
    }
}

fn send_reply(sock: BorrowedFd<'_>, reply: io::Result<(i32, OwnedFd)>) -> io::Result<usize> {
    match reply {
        Ok((pid, pidfd)) => fdpass::send_fds(sock, &pid.to_le_bytes(), &[pidfd.as_fd()]),
        Err(e) => {
            let code = -e.raw_os_error().unwrap_or(libc::EINVAL);
            fdpass::send_fds(sock, &code.to_le_bytes(), &[])
        }
    }
}

/// Checks a request and forks its worker; returns the worker's pid and a pidfd for the
/// client.
fn start_worker(
    header: &[u8],
    fds: Vec<OwnedFd>,
    sock: &mut Option<OwnedFd>,
    workers: &mut Vec<Worker>,
) -> io::Result<(i32, OwnedFd)> {
    let bad = || io::Error::from_raw_os_error(libc::EINVAL);
    if header.len() != 12 {
        return Err(bad());
    }
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    if word(0) != MAGIC {
        return Err(bad());
    }
    let with_result = word(4) & FLAG_RESULT != 0;
    let handles = word(8) as usize;
    let fixed = FIXED_FDS - usize::from(!with_result);
    if Some(fds.len()) != fixed.checked_add(handles) {
        return Err(bad());
    }
    let mut fds = fds.into_iter();
    let (Some(job), Some(status), Some(client)) = (fds.next(), fds.next(), fds.next()) else {
        return Err(bad());
    };
    let result = if with_result {
        fds.next().map(File::from)
    } else {
        None
    };
    let handles: Vec<OwnedFd> = fds.collect();
    let job = File::from(job);
    let mut status = Some(status);
    let pid = sys::fork_diverging(|| {
        // The worker keeps only what its job needs: not the server's socket, nor the other
        // workers' pidfds and status pipes. Its own status pipe it keeps, to report its exit
        // code there itself just before it ends (see `child::report_exit_on`).
        drop(sock.take());
        workers.clear();
        if let Some(status) = status.take() {
            crate::child::report_exit_on(status);
        }
        let _ = multiproc_signal::set_default(Signal::Int);
        match exec::ready_from(&job, handles, result, client) {
            Ok(ready) => {
                drop(job);
                sys::run_job(ready)
            }
            Err(e) => fail(&format!("a worker's job: {e}")),
        }
    })?;
    // Without a pidfd the client cannot be told of the worker: it must not run.
    let pidfds = sys::pidfd_open(pid).and_then(|fd| Ok((fd.try_clone()?, fd)));
    let (pidfd, for_client) = match pidfds {
        Ok(fds) => fds,
        Err(e) => {
            let _ = multiproc_signal::kill(Pid::from_raw(pid), Signal::Kill);
            let _ = sys::waitpid(pid, 0);
            return Err(e);
        }
    };
    if let Some(status) = status {
        workers.push(Worker { pidfd, status });
    }
    Ok((pid, for_client))
}
