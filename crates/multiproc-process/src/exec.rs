//! The spawn start method: `fork` + `exec` of `/proc/self/exe`, and the child's side, which
//! the entry hook ([`entry`]) runs before `main`.
//!
//! The parent writes a job into a memfd: the offsets (from an anchor in the binary) of the
//! function and of the trampoline made for its argument and result types, the child's name,
//! identity and daemon flag, the parent's pid and name, the encoded argument, and the fd
//! numbers of the handles the argument holds (a `Queue`, a `Lock`, a `Connection`, …: they
//! travel as in a pipe message, by fd). The child finds the job's fd in `MULTIPROC_SPAWN_JOB`,
//! checks and decodes it, and runs the function as a `fork` child runs its body. A value goes
//! back through a second memfd, as with `spawn` under `fork`.

use crate::child::{self, Outcome};
use crate::registry::{self, Becomes, ChildState};
use crate::spawn::{
    self as spawn_mod, JoinHandle, KIND_ARGUMENT, KIND_ENCODE, KIND_PANIC, KIND_VALUE,
};
use crate::sys::{self, JobOut, Trampoline};
use crate::{frame, ProcessError};
use multiproc_internal::{identity, transfer};
use multiproc_signal::Pid;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::sync::Arc;

/// The environment variable that makes a process a spawned child: the job's fd.
pub(crate) const JOB_ENV: &str = "MULTIPROC_SPAWN_JOB";

const JOB_MAGIC: u32 = 0x4d50_4a42; // "MPJB"
const JOB_VERSION: u32 = 1;
/// The most fds a job may carry (the argument's handles).
const MAX_FDS: usize = 1024;

/// What the child of the spawn method is to do.
#[derive(Serialize, Deserialize)]
pub(crate) struct Job {
    trampoline: u64,
    func: u64,
    name: String,
    lineage: Vec<u32>,
    daemon: bool,
    parent_pid: i32,
    parent_name: String,
    parent_main_thread: bool,
    arg: Vec<u8>,
    fds: Vec<RawFd>,
    result_fd: Option<RawFd>,
}

/// A function and its argument, encoded for a spawned child.
pub(crate) struct EncodedJob {
    pub(crate) trampoline: Trampoline,
    pub(crate) func: usize,
    pub(crate) arg: Vec<u8>,
    pub(crate) collected: transfer::Collected,
}

/// Encodes `arg` for a spawned child; handles inside it are collected as fds (connection
/// ends only when `moving`: they then move, and a copy of `arg` for several children cannot
/// hold one).
pub(crate) fn encode_arg<A: Serialize>(
    arg: &A,
    moving: bool,
) -> Result<(Vec<u8>, transfer::Collected), ProcessError> {
    let (bytes, collected) = transfer::collect(moving, || postcard::to_allocvec(arg));
    if let Some(e) = &collected.error {
        return Err(ProcessError::Argument(e.to_string()));
    }
    let bytes = bytes.map_err(|e| ProcessError::Argument(e.to_string()))?;
    Ok((bytes, collected))
}

/// Decodes a job's argument, handing it the fds that came with it.
pub(crate) fn decode_arg<A: DeserializeOwned>(arg: &[u8], fds: Vec<OwnedFd>) -> Result<A, String> {
    let (a, err) = transfer::provide(fds, || postcard::from_bytes::<A>(arg));
    match (a, err) {
        (Ok(a), None) => Ok(a),
        (_, Some(e)) => Err(e.to_string()),
        (Err(e), None) => Err(e.to_string()),
    }
}

/// Writes the job for a child into a fresh memfd. `fds` and `result_fd` are the numbers the
/// child will find them at (a forkserver's worker gets them by position instead, and these
/// are empty).
pub(crate) fn job_file(
    job: &EncodedJob,
    becomes: &Becomes,
    fds: Vec<RawFd>,
    result_fd: Option<RawFd>,
) -> Result<File, ProcessError> {
    let wire = Job {
        trampoline: sys::code_offset(job.trampoline as usize),
        func: sys::code_offset(job.func),
        name: becomes.name.clone(),
        lineage: becomes.lineage.clone(),
        daemon: becomes.daemon,
        parent_pid: identity::pid(),
        parent_name: registry::current_name(),
        parent_main_thread: identity::tid() == identity::pid(),
        arg: job.arg.clone(),
        fds,
        result_fd,
    };
    let bytes = postcard::to_allocvec(&wire).map_err(|e| ProcessError::Argument(e.to_string()))?;
    let file = File::from(sys::memfd(c"multiproc-job")?);
    frame::write(&file, JOB_MAGIC, JOB_VERSION, &bytes)?;
    Ok(file)
}

/// Refuses a job whose code the child could not find: the function and its trampoline must
/// be in the main executable, with this crate (see [`sys::code_in_executable`]).
pub(crate) fn check_code(job: &EncodedJob) -> Result<(), ProcessError> {
    if sys::code_in_executable(&[job.trampoline as usize, job.func]) {
        Ok(())
    } else {
        Err(ProcessError::Unsupported(
            "the spawn and forkserver start methods need multiproc-process and the function \
             linked into the main executable (not a shared library)",
        ))
    }
}

/// Starts a spawned child for `job`; with `result`, the child leaves its outcome there.
pub(crate) fn start(
    job: EncodedJob,
    becomes: Becomes,
    result: Option<&File>,
) -> Result<Arc<ChildState>, ProcessError> {
    check_code(&job)?;
    registry::ensure_exit_hook();
    registry::reap_finished();
    let handles: Vec<RawFd> = job.collected.fds.iter().map(AsRawFd::as_raw_fd).collect();
    let job_file = job_file(
        &job,
        &becomes,
        handles.clone(),
        result.map(AsRawFd::as_raw_fd),
    )?;
    let mut keep = handles;
    keep.extend(result.map(AsRawFd::as_raw_fd));
    keep.push(job_file.as_raw_fd());

    let mut cmd = std::process::Command::new("/proc/self/exe");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.env(
        JOB_ENV,
        format!("{}:{}", job_file.as_raw_fd(), sys::fingerprint()),
    );
    sys::keep_fds_across_exec(&mut cmd, keep);
    let _ = io::stdout().flush();
    let mut child = cmd.spawn()?;
    // The handles in the argument now belong to the child.
    job.collected.mark_moved();
    let pid = child.id() as libc::pid_t;
    match registry::register(pid, becomes.name, becomes.daemon) {
        // std's handle neither waits nor kills when dropped; the registry's pidfd takes over.
        Ok(state) => Ok(state),
        Err(e) => {
            // No pidfd (`pidfd_open` refused): the start fails, so the child must not run its
            // job unwatched or stay a zombie. `try_wait` finding it still running proves the
            // pid is still our unreaped child, so the signal cannot reach another process.
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Starts a child running `job` (by `method`: spawn or forkserver) whose value comes back
/// through a [`JoinHandle`].
pub(crate) fn start_with_value<R>(
    job: EncodedJob,
    becomes: Becomes,
    method: crate::StartMethod,
) -> Result<JoinHandle<R>, ProcessError> {
    let file = File::from(sys::memfd(c"multiproc-result")?);
    let name = becomes.name.clone();
    let state = match method {
        crate::StartMethod::Forkserver => crate::forkserver::start(job, becomes, Some(&file))?,
        _ => start(job, becomes, Some(&file))?,
    };
    Ok(JoinHandle::new(state, name, file))
}

fn fail(what: &str) -> ! {
    let _ = writeln!(
        io::stderr(),
        "multiproc: a spawned child cannot start: {what}"
    );
    sys::exit_now(1)
}

/// A checked job, ready to run: what the entry hook gets from [`prepare`].
pub(crate) struct Ready {
    job: Job,
    fds: Vec<OwnedFd>,
    result: Option<File>,
    /// The parent's pidfd, when it came with the job (a forkserver's worker: its parent in
    /// the job's sense is the server's client, not the server).
    parent_pidfd: Option<OwnedFd>,
}

impl Ready {
    /// The offset of the job's trampoline, for the entry hook to resolve.
    pub(crate) fn trampoline_offset(&self) -> u64 {
        self.job.trampoline
    }
}

/// Called by the entry hook before `main`: `None` at once unless this process is a spawned
/// child; otherwise its checked job, with the fds it inherited taken over. Ends the process
/// if the job is unusable.
pub(crate) fn prepare() -> Option<Ready> {
    let value = std::env::var_os(JOB_ENV)?;
    // A job for another copy of this crate (another version) is left to that copy's hook.
    let (fd, mark) = value.to_str()?.split_once(':')?;
    if mark != sys::fingerprint() {
        return None;
    }
    let fd = fd.to_owned();
    // Not for this process's own children.
    std::env::remove_var(JOB_ENV);
    if sys::is_secure_exec() {
        fail("the spawn start method is refused in a set-user-ID or set-group-ID program");
    }
    let Ok(fd) = fd.parse::<RawFd>() else {
        fail("MULTIPROC_SPAWN_JOB does not start with an fd number");
    };
    let job_file = match sys::take_inherited_fd(fd) {
        Ok(fd) => File::from(fd),
        Err(e) => fail(&format!("the job's fd: {e}")),
    };
    let job = match read_job(&job_file) {
        Ok(job) => job,
        Err(e) => fail(&format!("the job: {e}")),
    };
    drop(job_file);
    let mut fds = Vec::with_capacity(job.fds.len());
    for &fd in &job.fds {
        match sys::take_inherited_fd(fd) {
            Ok(fd) => fds.push(fd),
            Err(e) => fail(&format!("a handle's fd: {e}")),
        }
    }
    let result = match job.result_fd.map(sys::take_inherited_fd) {
        None => None,
        Some(Ok(fd)) => Some(File::from(fd)),
        Some(Err(e)) => fail(&format!("the result's fd: {e}")),
    };
    Some(Ready {
        job,
        fds,
        result,
        parent_pidfd: None,
    })
}

/// A forkserver worker's job: the job file, the handles' fds, the result file and the
/// client's pidfd, as they came over the server's socket.
pub(crate) fn ready_from(
    job_file: &File,
    fds: Vec<OwnedFd>,
    result: Option<File>,
    parent_pidfd: OwnedFd,
) -> io::Result<Ready> {
    let job = read_job(job_file)?;
    Ok(Ready {
        job,
        fds,
        result,
        parent_pidfd: Some(parent_pidfd),
    })
}

pub(crate) fn read_job(file: &File) -> io::Result<Job> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let bytes = match frame::read(file, JOB_MAGIC)? {
        Some((JOB_VERSION, bytes)) => bytes,
        _ => return Err(bad("not a complete multiproc job of this version")),
    };
    let job: Job = postcard::from_bytes(&bytes).map_err(|e| bad(&e.to_string()))?;
    if job.fds.len() > MAX_FDS {
        return Err(bad("too many fds"));
    }
    let mut seen = job.fds.clone();
    seen.extend(job.result_fd);
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(bad("an fd named twice"));
    }
    Ok(job)
}

/// Runs a prepared job with its resolved trampoline, as a child's body, and ends the process.
pub(crate) fn run(ready: Ready, trampoline: Trampoline) -> ! {
    let Ready {
        job,
        fds,
        result,
        parent_pidfd,
    } = ready;
    let becomes = Becomes {
        name: job.name,
        lineage: job.lineage,
        daemon: job.daemon,
    };
    let parent = registry::SpawnedBy {
        pid: Pid::from_raw(job.parent_pid),
        name: job.parent_name,
        main_thread: job.parent_main_thread,
        pidfd: parent_pidfd,
    };
    let setup = registry::become_spawned(becomes, parent);
    let func = sys::code_at(job.func);
    let arg = job.arg;
    child::bootstrap(setup, job.daemon, move || {
        let (kind, payload, code) = match child::catch(|| trampoline(func, &arg, fds)) {
            Outcome::Returned(JobOut::Done) => return 0,
            Outcome::Returned(JobOut::Value(bytes)) => (KIND_VALUE, bytes, 0),
            Outcome::Returned(JobOut::Unencodable(msg)) => (KIND_ENCODE, msg.into_bytes(), 1),
            Outcome::Returned(JobOut::BadArgument(msg)) => {
                let _ = writeln!(io::stderr(), "multiproc: a spawned child's argument: {msg}");
                (KIND_ARGUMENT, msg.into_bytes(), 1)
            }
            Outcome::Panicked(msg) => (KIND_PANIC, msg.into_bytes(), 1),
            Outcome::Exit(code) => return code,
        };
        if let Some(file) = &result {
            if spawn_mod::write_outcome(file, kind, &payload).is_err() {
                return 1;
            }
        }
        code
    })
}
