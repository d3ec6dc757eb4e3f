//! A pool worker: its wire format and its loop.
//!
//! Each worker has two private channels (shared-memory pipes): tasks in, results out. A task
//! message is `[TASK][seq: u64][trampoline: u64][function: u64][chunk]`, the chunk a
//! postcard sequence of arguments; a chunk larger than the worker's window comes instead in a
//! memfd attached to a `[TASK_IN_FILE][seq][trampoline][function]` message (so that handing
//! it out never blocks the pool, even on a worker that dies meanwhile); `[EXIT]` asks the
//! worker to end. A result message is
//! `[kind][seq: u64][payload]`: `OK` with a postcard sequence of results, `PANICKED` or
//! `FAULT` with a message; `INIT_FAILED` with a message (no seq) when the initializer
//! failed, `READY` (no seq) when it finished. The worker runs tasks one at a time, in the order they came, and answers each
//! before it reads the next: the parent knows which task a dead worker held (the oldest
//! unanswered) and that it started none of the later ones.

use crate::child::{self, ExitRequest, Outcome};
use crate::sys::{self, JobOut};
use multiproc_pipe::{Fd, Receiver, Sender};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

pub(crate) const TASK: u8 = 1;
pub(crate) const EXIT: u8 = 2;
pub(crate) const TASK_IN_FILE: u8 = 3;

pub(crate) const OK: u8 = 1;
pub(crate) const PANICKED: u8 = 2;
pub(crate) const FAULT: u8 = 3;
pub(crate) const INIT_FAILED: u8 = 4;
pub(crate) const READY: u8 = 5;

/// Kind, seq, trampoline offset, function offset.
pub(crate) const TASK_HEADER: usize = 25;
/// Kind, seq.
pub(crate) const RESULT_HEADER: usize = 9;

/// The initializer, as a worker receives it.
#[derive(Serialize, Deserialize)]
pub(crate) struct InitJob {
    pub(crate) trampoline: u64,
    pub(crate) func: u64,
    pub(crate) arg: Vec<u8>,
    pub(crate) fds: Vec<Fd>,
}

/// What a worker is started with.
#[derive(Serialize, Deserialize)]
pub(crate) struct WorkerArg {
    pub(crate) tasks: Receiver,
    pub(crate) results: Sender,
    pub(crate) init: Option<InitJob>,
    /// Tasks to run before ending (0: no limit).
    pub(crate) max_tasks: u64,
    /// Whether to check that a task's code lies in the main executable (when the worker was
    /// started by `exec`, where only such code can be named by an offset).
    pub(crate) check_code: bool,
}

/// Writes a result message's header into `out` (emptied first).
pub(crate) fn result_header(out: &mut Vec<u8>, kind: u8, seq: u64) {
    out.clear();
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
}

/// Makes `out` a `FAULT` answer to task `seq`, saying why.
fn fault(out: &mut Vec<u8>, seq: u64, why: &str) {
    result_header(out, FAULT, seq);
    out.extend_from_slice(why.as_bytes());
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Splits a task message: kind, seq, trampoline offset, function offset, chunk (empty for
/// `TASK_IN_FILE`).
pub(crate) fn parse_task(msg: &[u8]) -> Option<(u8, u64, u64, u64, &[u8])> {
    if msg.len() < TASK_HEADER || !matches!(msg[0], TASK | TASK_IN_FILE) {
        return None;
    }
    Some((
        msg[0],
        le64(&msg[1..]),
        le64(&msg[9..]),
        le64(&msg[17..]),
        &msg[TASK_HEADER..],
    ))
}

/// The largest chunk a worker reads from a file.
const MAX_FILE_CHUNK: u64 = 1 << 32;

/// Reads a chunk handed over in a memfd.
fn read_chunk_file(fd: OwnedFd) -> Option<Vec<u8>> {
    let file = File::from(fd);
    let len = file.metadata().ok()?.len();
    if len > MAX_FILE_CHUNK {
        return None;
    }
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut buf, 0).ok()?;
    Some(buf)
}

/// Splits a result message: kind, seq, payload (`INIT_FAILED` has no seq: 0).
pub(crate) fn parse_result(msg: &[u8]) -> Option<(u8, u64, &[u8])> {
    match msg.first() {
        Some(&k @ (INIT_FAILED | READY)) => Some((k, 0, &msg[1..])),
        Some(&k @ (OK | PANICKED | FAULT)) if msg.len() >= RESULT_HEADER => {
            Some((k, le64(&msg[1..]), &msg[RESULT_HEADER..]))
        }
        _ => None,
    }
}

/// The worker's body: the initializer, then tasks until told to end, until its parent is
/// gone, or until it has run `max_tasks`.
pub(crate) fn worker_main(arg: WorkerArg) {
    let WorkerArg {
        mut tasks,
        mut results,
        init,
        max_tasks,
        check_code,
    } = arg;
    if let Some(init) = init {
        let fds = init.fds.into_iter().map(Fd::into_inner).collect();
        let failed = match child::catch(|| {
            sys::call_initializer(init.trampoline, init.func, &init.arg, fds)
        }) {
            Outcome::Returned(JobOut::Done | JobOut::Value(_)) => None,
            Outcome::Returned(JobOut::BadArgument(m) | JobOut::Unencodable(m)) => Some(m),
            Outcome::Panicked(m) => Some(m),
            Outcome::Exit(code) => std::panic::resume_unwind(Box::new(ExitRequest(code))),
        };
        if let Some(m) = failed {
            let mut msg = vec![INIT_FAILED];
            msg.extend_from_slice(m.as_bytes());
            let _ = results.send_bytes(&msg);
            return;
        }
        if results.send_bytes(&[READY]).is_err() {
            return;
        }
    }
    let mut checked: Option<(u64, u64)> = None;
    let mut out = Vec::new();
    let mut done = 0u64;
    loop {
        // An error: the parent is gone (or broke the channel); nothing left to do.
        let Ok((msg, mut fds)) = tasks.recv_bytes_with_fds() else {
            return;
        };
        let Some((kind, seq, trampoline, func, inline)) = parse_task(&msg) else {
            return; // EXIT, or a message this worker does not understand
        };
        let in_file;
        let chunk = if kind == TASK_IN_FILE {
            in_file = fds.pop().and_then(read_chunk_file);
            in_file.as_deref()
        } else {
            Some(inline)
        };
        drop(fds);
        let code_ok = !check_code
            || checked == Some((trampoline, func))
            || sys::code_in_executable(&[sys::code_at(trampoline), sys::code_at(func)]);
        match (chunk, code_ok) {
            (None, _) => fault(&mut out, seq, "the task's chunk could not be read"),
            (Some(_), false) => fault(
                &mut out,
                seq,
                "the task's code is not in the main executable",
            ),
            (Some(chunk), true) => {
                checked = Some((trampoline, func));
                result_header(&mut out, OK, seq);
                match child::catch(|| sys::call_pool_task(trampoline, func, chunk, &mut out)) {
                    Outcome::Returned(Ok(())) => {}
                    Outcome::Returned(Err(m)) => fault(&mut out, seq, &m),
                    Outcome::Panicked(m) => {
                        result_header(&mut out, PANICKED, seq);
                        out.extend_from_slice(m.as_bytes());
                    }
                    Outcome::Exit(code) => std::panic::resume_unwind(Box::new(ExitRequest(code))),
                }
            }
        }
        match results.send_bytes(&out) {
            Ok(()) => {}
            Err(multiproc_pipe::SendError::Disconnected) => return,
            Err(e) => {
                // Too large for the channel, say: the task fails with the reason.
                fault(&mut out, seq, &format!("the result could not be sent: {e}"));
                if results.send_bytes(&out).is_err() {
                    return;
                }
            }
        }
        done += 1;
        if max_tasks != 0 && done >= max_tasks {
            return;
        }
    }
}
