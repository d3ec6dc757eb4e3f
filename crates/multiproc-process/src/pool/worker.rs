//! A pool worker: its wire format and its loop.
//!
//! Each worker has two private channels (shared-memory pipes): tasks in, results out. A task
//! message is `[TASK][seq: u64][trampoline: u64][function: u64][chunk]`, the chunk a
//! postcard sequence of arguments; `[EXIT]` asks the worker to end. A result message is
//! `[kind][seq: u64][payload]`: `OK` with a postcard sequence of results, `PANICKED` or
//! `FAULT` with a message; `INIT_FAILED` with a message (no seq) when the initializer
//! failed. The worker runs tasks one at a time, in the order they came, and answers each
//! before it reads the next: the parent knows which task a dead worker held (the oldest
//! unanswered) and that it started none of the later ones.

use crate::child::{self, ExitRequest, Outcome};
use crate::sys::{self, JobOut};
use multiproc_pipe::{Fd, Receiver, Sender};
use serde::{Deserialize, Serialize};

pub(crate) const TASK: u8 = 1;
pub(crate) const EXIT: u8 = 2;

pub(crate) const OK: u8 = 1;
pub(crate) const PANICKED: u8 = 2;
pub(crate) const FAULT: u8 = 3;
pub(crate) const INIT_FAILED: u8 = 4;

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
}

/// Writes a result message's header into `out` (emptied first).
pub(crate) fn result_header(out: &mut Vec<u8>, kind: u8, seq: u64) {
    out.clear();
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Splits a task message: seq, trampoline offset, function offset, chunk.
pub(crate) fn parse_task(msg: &[u8]) -> Option<(u64, u64, u64, &[u8])> {
    if msg.len() < TASK_HEADER || msg[0] != TASK {
        return None;
    }
    Some((
        le64(&msg[1..]),
        le64(&msg[9..]),
        le64(&msg[17..]),
        &msg[TASK_HEADER..],
    ))
}

/// Splits a result message: kind, seq, payload (`INIT_FAILED` has no seq: 0).
pub(crate) fn parse_result(msg: &[u8]) -> Option<(u8, u64, &[u8])> {
    match msg.first() {
        Some(&INIT_FAILED) => Some((INIT_FAILED, 0, &msg[1..])),
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
    }
    let mut out = Vec::new();
    let mut done = 0u64;
    loop {
        // An error: the parent is gone (or broke the channel); nothing left to do.
        let Ok(msg) = tasks.recv_bytes() else { return };
        let Some((seq, trampoline, func, chunk)) = parse_task(&msg) else {
            return; // EXIT, or a message this worker does not understand
        };
        result_header(&mut out, OK, seq);
        let ran = child::catch(|| sys::call_pool_task(trampoline, func, chunk, &mut out));
        match ran {
            Outcome::Returned(Ok(())) => {}
            Outcome::Returned(Err(m)) => {
                result_header(&mut out, FAULT, seq);
                out.extend_from_slice(m.as_bytes());
            }
            Outcome::Panicked(m) => {
                result_header(&mut out, PANICKED, seq);
                out.extend_from_slice(m.as_bytes());
            }
            Outcome::Exit(code) => std::panic::resume_unwind(Box::new(ExitRequest(code))),
        }
        if results.send_bytes(&out).is_err() {
            return;
        }
        done += 1;
        if max_tasks != 0 && done >= max_tasks {
            return;
        }
    }
}
