//! Who uses a queue: a table of processes and their roles in the queue's control page, so that
//! a waiting producer learns that every consumer has gone (and a waiting consumer, that every
//! producer has), instead of waiting forever.
//!
//! A process is entered the first time it puts (producer), gets (consumer), or when it creates
//! the queue (creator). Entries are never removed while their process lives: a process counts
//! until it exits (or is killed), not until it drops its handles. A process is judged gone when
//! `/proc` says it has exited (a zombie has) or its pid now belongs to another process (the
//! start time differs). A process in another pid namespace, or an entry being written, counts
//! as alive. If the table is full, a process cannot be entered and nobody is ever told
//! (waiting stays as in Python).
//!
//! Slots (32 bytes each): pid (`u32`), roles (`u32`), start time (`u64`), pid namespace
//! (`u64`).

use multiproc_internal::block::{
    own_pid_namespace, process_start_time, process_stat, SharedBlock, HEADER_LEN,
};
use multiproc_internal::identity;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// Puts to the queue.
pub(crate) const PRODUCER: u32 = 1;
/// Gets from it.
pub(crate) const CONSUMER: u32 = 2;
/// Created it (counts as a producer: the creator is the one that puts the last sentinels).
pub(crate) const CREATOR: u32 = 4;

/// Payload offsets: the roles ever entered, the "someone could not be entered" flag, the table.
pub(crate) const EVER: usize = 336;
const UNTRACKED: usize = 340;
const TABLE: usize = 448;
const SLOT: usize = 32;
/// Slots in the table (it ends where the ring starts).
pub(crate) const SLOTS: usize = 112;
const _: () = assert!(TABLE + SLOTS * SLOT <= 4096 - HEADER_LEN);
/// A slot being written: counts as alive.
const BUSY: u32 = u32::MAX;

/// This process's entry in one queue's table (per handle set; reset in a forked child).
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// The pid that made the entry (another pid: a forked child, not entered yet).
    pid: AtomicI32,
    slot: AtomicU32,
    roles: AtomicU32,
}

fn u32_at(block: &SharedBlock, off: usize) -> &AtomicU32 {
    block
        .atomic_u32(HEADER_LEN + off)
        .expect("inside the control page: checked at creation")
}

fn u64_at(block: &SharedBlock, off: usize) -> &AtomicU64 {
    block
        .atomic_u64(HEADER_LEN + off)
        .expect("inside the control page: checked at creation")
}

fn slot_at(i: usize) -> usize {
    TABLE + i * SLOT
}

/// Whether the process in slot `i` (as read) is gone.
fn gone(block: &SharedBlock, i: usize, pid: u32) -> bool {
    if pid == 0 {
        return true;
    }
    if pid == BUSY || pid == identity::pid() as u32 {
        return false;
    }
    let start = u64_at(block, slot_at(i) + 8).load(Ordering::Acquire);
    let ns = u64_at(block, slot_at(i) + 16).load(Ordering::Acquire);
    if ns == 0 || own_pid_namespace().is_none_or(|ours| ours != ns) {
        return false; // cannot judge a pid of another namespace
    }
    let Ok(pid) = i32::try_from(pid) else {
        return true;
    };
    match process_stat(pid) {
        None => true,
        Some((state, t)) => matches!(state, b'Z' | b'X' | b'x') || t != start,
    }
}

impl Entry {
    /// Enters this process with `role` (once per process and role: after that, two loads).
    pub(crate) fn enter(&self, block: &SharedBlock, role: u32) {
        let me = identity::pid();
        if self.pid.load(Ordering::Relaxed) == me && self.roles.load(Ordering::Relaxed) & role != 0
        {
            return;
        }
        self.enter_slow(block, me, role);
    }

    #[cold]
    fn enter_slow(&self, block: &SharedBlock, me: i32, role: u32) {
        u32_at(block, EVER).fetch_or(role, Ordering::SeqCst);
        if self.pid.load(Ordering::Relaxed) != me {
            match claim(block, me) {
                Some(i) => {
                    self.slot.store(i as u32, Ordering::Relaxed);
                    self.roles.store(0, Ordering::Relaxed);
                    self.pid.store(me, Ordering::Relaxed);
                }
                None => {
                    u32_at(block, UNTRACKED).store(1, Ordering::SeqCst);
                    // Not entered: remember the role anyway, so as not to try again.
                    self.pid.store(me, Ordering::Relaxed);
                    self.slot.store(u32::MAX, Ordering::Relaxed);
                    self.roles.fetch_or(role, Ordering::Relaxed);
                    return;
                }
            }
        }
        let i = self.slot.load(Ordering::Relaxed) as usize;
        if i < SLOTS {
            u32_at(block, slot_at(i) + 4).fetch_or(role, Ordering::SeqCst);
        }
        self.roles.fetch_or(role, Ordering::Relaxed);
    }
}

/// Claims a free slot, or one whose process is gone, for `me`.
fn claim(block: &SharedBlock, me: i32) -> Option<usize> {
    let start = process_start_time(me).unwrap_or(0);
    let ns = own_pid_namespace().unwrap_or(0);
    for i in 0..SLOTS {
        let pid = u32_at(block, slot_at(i));
        let seen = pid.load(Ordering::Acquire);
        if !gone(block, i, seen) {
            continue;
        }
        if pid
            .compare_exchange(seen, BUSY, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        u32_at(block, slot_at(i) + 4).store(0, Ordering::Relaxed);
        u64_at(block, slot_at(i) + 8).store(start, Ordering::Relaxed);
        u64_at(block, slot_at(i) + 16).store(ns, Ordering::Relaxed);
        pid.store(me as u32, Ordering::Release);
        return Some(i);
    }
    None
}

/// Whether every process that ever had one of `roles` is gone (and one had): nobody is left to
/// take (or give) anything. Slow (reads `/proc`): for waiting paths only.
pub(crate) fn all_gone(block: &SharedBlock, roles: u32) -> bool {
    if u32_at(block, UNTRACKED).load(Ordering::Acquire) != 0
        || u32_at(block, EVER).load(Ordering::Acquire) & roles == 0
    {
        return false;
    }
    (0..SLOTS).all(|i| {
        let pid = u32_at(block, slot_at(i)).load(Ordering::Acquire);
        let has = u32_at(block, slot_at(i) + 4).load(Ordering::Acquire);
        pid == 0 || (pid != BUSY && has & roles == 0) || gone(block, i, pid)
    })
}
