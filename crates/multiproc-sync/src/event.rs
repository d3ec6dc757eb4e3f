//! `Event`: a flag that processes set, clear and wait for.

use crate::handle::shared_handle;
use multiproc_internal::clock::Deadline;
use multiproc_internal::futex;
use multiproc_internal::object::{Kind, SharedObject};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const KIND: Kind = Kind {
    magic: *b"MPEVENT\0",
    version: 1,
    payload: 64,
    name: "event",
};
/// The state word (the futex): bit 0 is the flag, the other bits count the `set`s that raised
/// it. The sleepers word counts waiters in the kernel, so `set` makes no syscall without them.
const STATE: usize = KIND.at(0);
const SLEEPERS: usize = KIND.at(4);

/// A flag shared between processes: Python's `multiprocessing.Event`.
///
/// [`wait`](Event::wait) returns once the flag is set. A `set` that happens while a process
/// waits is never missed, even if the flag is cleared again before the waiter runs (each `set`
/// that raises the flag is counted).
///
/// Waiting spins briefly, then sleeps on a futex; `set` wakes every sleeper.
///
/// # Examples
///
/// ```
/// use multiproc_sync::Event;
/// use std::time::Duration;
///
/// # fn main() -> std::io::Result<()> {
/// let ready = Event::new()?;
/// assert!(!ready.wait_timeout(Duration::from_millis(1)));
/// ready.set(); // in another process, typically
/// assert!(ready.is_set());
/// ready.wait();
/// # Ok(()) }
/// ```
pub struct Event {
    obj: SharedObject,
}

impl Event {
    /// A new anonymous event, not set. Share it by forking after creating it, or by sending
    /// its fd ([`Event::from_fd`]).
    ///
    /// # Errors
    ///
    /// OS errors creating the memfd.
    pub fn new() -> io::Result<Event> {
        Ok(Event {
            obj: SharedObject::create(&KIND, None, |_| {})?,
        })
    }

    /// A new named event that unrelated processes can [`open`](Event::open); the creator's
    /// handle unlinks it when dropped.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name exists; `InvalidInput` for bad names.
    pub fn create_named(name: &str) -> io::Result<Event> {
        Ok(Event {
            obj: SharedObject::create(&KIND, Some(name), |_| {})?,
        })
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        self.obj
            .block()
            .atomic_u32(offset)
            .expect("event words are inside the block")
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let state = self.word(STATE);
        let mut s = state.load(Ordering::Relaxed);
        loop {
            if s & 1 == 1 {
                return; // already set: nothing changes, nobody sleeps on it
            }
            // Count the set (bits 1..) and raise the flag.
            let new = (s | 1).wrapping_add(2);
            match state.compare_exchange_weak(s, new, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        if self.word(SLEEPERS).load(Ordering::SeqCst) > 0 {
            futex::wake_all(state);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.word(STATE).fetch_and(!1, Ordering::SeqCst);
    }

    /// Whether the flag is set (a snapshot).
    pub fn is_set(&self) -> bool {
        self.word(STATE).load(Ordering::Acquire) & 1 == 1
    }

    fn wait_until(&self, deadline: Option<Deadline>) -> bool {
        let state = self.word(STATE);
        let s0 = state.load(Ordering::Acquire);
        if s0 & 1 == 1 {
            return true;
        }
        // Any change from `s0` (flag down) means a set happened: only `set` changes a word
        // whose flag is down.
        if futex::spin_until(|| state.load(Ordering::Acquire) != s0) {
            return true;
        }
        let sleepers = self.word(SLEEPERS);
        loop {
            if state.load(Ordering::Acquire) != s0 {
                return true;
            }
            if deadline.is_some_and(Deadline::has_passed) {
                return false;
            }
            sleepers.fetch_add(1, Ordering::SeqCst);
            if state.load(Ordering::SeqCst) == s0 {
                futex::wait(state, s0, deadline);
            }
            sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until the flag is set.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout` (monotonic clock); whether the flag was set (Python's
    /// `wait(timeout)` return value).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(timeout))
    }

    /// Waits until `deadline` at the latest; whether the flag was set.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Deadline::from_instant(deadline))
    }
}

shared_handle!(Event, KIND, "event", open);

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("name", &self.name())
            .finish()
    }
}

impl multiproc_internal::transfer::Transfer for Event {
    const TAG: [u8; 8] = *b"MPEVENT\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([] Event);
