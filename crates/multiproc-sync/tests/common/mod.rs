//! Helpers shared by the sync tests.

#![allow(dead_code)] // each test binary uses a subset

use multiproc_internal::testing::wait_until;

/// The scheduler state letter of process `pid` (`S`: sleeping), from `/proc/<pid>/stat`.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).map(|&b| b as char)
}

/// Waits until process `pid` sleeps (in the kernel: a futex here).
pub fn until_asleep(pid: i32) {
    wait_until("the child to sleep", || state(pid) == Some('S'));
}
