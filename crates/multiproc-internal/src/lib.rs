//! Internal support crate of [multiproc](https://docs.rs/multiproc). **Not for external use**:
//! its API changes without notice, in any release.
//!
//! What several multiproc crates share:
//!
//! - [`futex`]: wait and wake on a word in shared memory, with monotonic deadlines and the
//!   adaptive (spin, then sleep) wait.
//! - [`robust`]: a lock word in the kernel's robust-futex format, whose holder's death is
//!   reported to the next acquirer.
//! - [`block`]: the shared block primitives live in (sealed memfd, or named `shm_open` object),
//!   with a checked header.
//! - [`copy`]: race-tolerant copies in and out of shared memory (no data-race UB).
//! - [`guard`]: what a guard over a robust lock holds, the public lock errors, re-entrant
//!   locks, and the condition variable's wait.
//! - [`ring`]: a single-producer, single-consumer message ring in a shared block.
//! - [`object`]: a block that is anonymous or named, with creator-only unlink.
//! - [`fdpass`]: handing fds to another process over a Unix socket.
//! - [`poll`]: waiting for one fd to become readable, with a timeout that holds.
//! - [`transfer`]: handles (shared objects, connection ends) inside typed messages.
//! - [`identity`], [`clock`], [`errno`]: cached pid/tid reset after fork, deadlines, errno.
//! - `testing` (feature `test-support`): `fork_child`, re-executing the test binary, and
//!   listing what a test leaked.
//!
//! Linux only.

#![cfg(target_os = "linux")]

pub mod block;
pub mod clock;
pub mod copy;
pub mod errno;
pub mod fdpass;
pub mod futex;
pub mod guard;
pub mod identity;
pub mod object;
pub mod poll;
pub mod ring;
pub mod robust;
pub mod spin;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod transfer;
