//! `Barrier`: a number of processes wait until all have arrived.

use multiproc_internal::clock::Deadline;
use multiproc_internal::errno::{invalid_data, invalid_input};
use multiproc_internal::futex;
use multiproc_internal::object::{Kind, SharedObject};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const KIND: Kind = Kind {
    magic: *b"MPBARIER",
    version: 1,
    payload: 64,
    name: "barrier",
};
/// `generation << 32 | broken << 31 | arrived`, changed only by compare-exchange: one word, so
/// an arrival is never counted in a generation already released, and a timeout can only break
/// a generation that is still current.
const STATE: usize = KIND.at(0);
/// Generation + 1 of the last generation ended by `reset` (0: none): its waiters fail.
const RESET: usize = KIND.at(8);
/// Number of parties.
const PARTIES: usize = KIND.at(12);
/// Bumped on every release, break and reset: the futex word waiters sleep on.
const WAKE: usize = KIND.at(16);
const BROKEN_BIT: u64 = 1 << 31;
const ARRIVED: u64 = BROKEN_BIT - 1;

/// The barrier was broken — by a wait that timed out, [`Barrier::abort`] or
/// [`Barrier::reset`] — while this process waited or before it arrived (Python's
/// `BrokenBarrierError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl std::error::Error for BrokenBarrier {}

/// A barrier for a fixed number of processes (or threads): each [`wait`](Barrier::wait) blocks
/// until `parties` callers have arrived, then all proceed: Python's `multiprocessing.Barrier`.
/// It is reusable: the next `parties` arrivals form the next generation.
///
/// Each caller gets its arrival index, `0..parties`; exactly one gets `parties - 1`, which is
/// handy to choose a leader. A wait that times out breaks the barrier for everyone waiting at
/// it, as does [`abort`](Barrier::abort); [`reset`](Barrier::reset) breaks the waiters and makes
/// it usable again.
///
/// **A participant that dies never arrives**: the others wait forever unless they use
/// [`wait_timeout`](Barrier::wait_timeout).
///
/// # Examples
///
/// ```
/// use multiproc_sync::Barrier;
///
/// # fn main() -> std::io::Result<()> {
/// let barrier = Barrier::new(1)?;
/// assert_eq!(barrier.wait(), Ok(0)); // one party: the only arrival is also the last
/// # Ok(()) }
/// ```
pub struct Barrier {
    obj: SharedObject,
}

impl Barrier {
    /// A new anonymous barrier for `parties` participants.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for 0 parties; OS errors creating the memfd.
    pub fn new(parties: u32) -> io::Result<Barrier> {
        Barrier::create(parties, None)
    }

    /// A new named barrier that unrelated processes can [`open`](Barrier::open).
    ///
    /// # Errors
    ///
    /// As [`Barrier::new`]; `AlreadyExists` if the name exists.
    pub fn create_named(name: &str, parties: u32) -> io::Result<Barrier> {
        Barrier::create(parties, Some(name))
    }

    fn create(parties: u32, name: Option<&str>) -> io::Result<Barrier> {
        if parties == 0 || u64::from(parties) > ARRIVED {
            return Err(invalid_input(format!(
                "a barrier needs 1 to {ARRIVED} parties, not {parties}"
            )));
        }
        let b = Barrier {
            obj: SharedObject::create(&KIND, name)?,
        };
        b.u32(PARTIES).store(parties, Ordering::Release);
        Ok(b)
    }

    fn checked(obj: SharedObject) -> io::Result<Barrier> {
        let b = Barrier { obj };
        if b.parties() == 0 || u64::from(b.parties()) > ARRIVED {
            return Err(invalid_data("barrier party count out of range"));
        }
        Ok(b)
    }

    /// Opens a named barrier.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is none; `InvalidData` if the name holds something else.
    pub fn open(name: &str) -> io::Result<Barrier> {
        Barrier::checked(SharedObject::open(&KIND, name)?)
    }

    /// Rebuilds a barrier from an fd received from another process.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the fd is not a sealed multiproc barrier.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Barrier> {
        Barrier::checked(SharedObject::from_fd(&KIND, fd)?)
    }

    fn u32(&self, offset: usize) -> &AtomicU32 {
        self.obj
            .block()
            .atomic_u32(offset)
            .expect("barrier words are inside the block")
    }

    fn state(&self) -> &AtomicU64 {
        self.obj
            .block()
            .atomic_u64(STATE)
            .expect("barrier words are inside the block")
    }

    /// Number of participants.
    pub fn parties(&self) -> u32 {
        self.u32(PARTIES).load(Ordering::Acquire)
    }

    /// Whether the barrier is broken (until [`reset`](Barrier::reset)).
    pub fn is_broken(&self) -> bool {
        self.state().load(Ordering::Acquire) & BROKEN_BIT != 0
    }

    /// How many participants are waiting right now.
    pub fn n_waiting(&self) -> u32 {
        let s = self.state().load(Ordering::Acquire);
        if s & BROKEN_BIT != 0 {
            0
        } else {
            (s & ARRIVED) as u32
        }
    }

    fn wake_everyone(&self) {
        let wake = self.u32(WAKE);
        wake.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(wake);
    }

    /// Sets the broken bit if the state is still in `generation`; whether it did (or was
    /// already broken there).
    fn break_generation(&self, generation: u32) -> bool {
        let state = self.state();
        let mut s = state.load(Ordering::Acquire);
        loop {
            if (s >> 32) as u32 != generation {
                return false;
            }
            if s & BROKEN_BIT != 0 {
                return true;
            }
            match state.compare_exchange(s, s | BROKEN_BIT, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => {
                    self.wake_everyone();
                    return true;
                }
                Err(actual) => s = actual,
            }
        }
    }

    fn wait_until(&self, deadline: Option<Deadline>) -> Result<u32, BrokenBarrier> {
        let parties = self.parties();
        let state = self.state();
        let (generation, index) = loop {
            let s = state.load(Ordering::Acquire);
            let (generation, arrived) = ((s >> 32) as u32, (s & ARRIVED) as u32);
            if s & BROKEN_BIT != 0 {
                return Err(BrokenBarrier);
            }
            if arrived + 1 >= parties {
                // The last arrival releases everyone: next generation, nobody arrived.
                let next = u64::from(generation.wrapping_add(1)) << 32;
                if state
                    .compare_exchange(s, next, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    self.wake_everyone();
                    return Ok(parties - 1);
                }
            } else if state
                .compare_exchange(s, s + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                break (generation, arrived);
            }
        };
        let wake = self.u32(WAKE);
        // How our generation ended, if it did: released (Ok) or reset (broken).
        let outcome = || -> Option<Result<u32, BrokenBarrier>> {
            let s = state.load(Ordering::Acquire);
            if (s >> 32) as u32 != generation {
                let reset = self.u32(RESET).load(Ordering::Acquire) == generation.wrapping_add(1);
                return Some(if reset { Err(BrokenBarrier) } else { Ok(index) });
            }
            (s & BROKEN_BIT != 0).then_some(Err(BrokenBarrier))
        };
        let mut spun = false;
        loop {
            // Read the wake word before checking, so a change in between makes the futex
            // return at once.
            let w = wake.load(Ordering::SeqCst);
            if let Some(r) = outcome() {
                return r;
            }
            if deadline.is_some_and(Deadline::has_passed) {
                // Python: a timeout breaks the barrier for everyone — if our generation is
                // still current; if it was just released, we passed after all.
                if self.break_generation(generation) {
                    return Err(BrokenBarrier);
                }
                return outcome().unwrap_or(Err(BrokenBarrier));
            }
            if !spun {
                spun = true;
                futex::spin_until(|| wake.load(Ordering::Acquire) != w);
                continue;
            }
            futex::wait(wake, w, deadline);
        }
    }

    /// Waits until all parties have arrived; returns this caller's arrival index.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrier`] if the barrier is or becomes broken while waiting.
    pub fn wait(&self) -> Result<u32, BrokenBarrier> {
        self.wait_until(None)
    }

    /// Waits at most `timeout`. A timeout breaks the barrier for everyone waiting at it.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrier`] on timeout, or if the barrier is or becomes broken.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BrokenBarrier> {
        self.wait_until(Deadline::after(timeout))
    }

    /// Waits until `deadline` at the latest; see [`Barrier::wait_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Barrier::wait_timeout`].
    pub fn wait_deadline(&self, deadline: Instant) -> Result<u32, BrokenBarrier> {
        self.wait_until(Deadline::from_instant(deadline))
    }

    /// Breaks the barrier: current and future waiters get [`BrokenBarrier`] until
    /// [`reset`](Barrier::reset).
    pub fn abort(&self) {
        loop {
            let generation = (self.state().load(Ordering::Acquire) >> 32) as u32;
            if self.break_generation(generation) {
                return;
            }
        }
    }

    /// Returns the barrier to its empty state: current waiters get [`BrokenBarrier`]; later
    /// arrivals form a fresh generation.
    pub fn reset(&self) {
        let state = self.state();
        loop {
            let generation = (state.load(Ordering::Acquire) >> 32) as u32;
            // Break the generation first: a broken generation cannot be released any more, so
            // nothing races with the two steps below but another reset.
            if !self.break_generation(generation) {
                continue; // it was just released: reset the next one
            }
            let s = state.load(Ordering::Acquire);
            if (s >> 32) as u32 != generation {
                continue; // another reset got there first
            }
            // Record the reset, then start the next generation: waiters of this one see the
            // record and fail rather than pass.
            self.u32(RESET)
                .store(generation.wrapping_add(1), Ordering::SeqCst);
            let next = u64::from(generation.wrapping_add(1)) << 32;
            if state
                .compare_exchange(s, next, Ordering::SeqCst, Ordering::Acquire)
                .is_ok()
            {
                break;
            }
        }
        self.wake_everyone();
    }

    /// The name of a named barrier.
    pub fn name(&self) -> Option<&str> {
        self.obj.block().name()
    }

    /// Keeps a named barrier after its creator's handle is dropped.
    pub fn keep(&mut self) {
        self.obj.keep();
    }

    /// Removes a named barrier's name; existing handles keep working.
    ///
    /// # Errors
    ///
    /// `NotFound` if already unlinked; `InvalidInput` for an anonymous barrier.
    pub fn unlink(&mut self) -> io::Result<()> {
        self.obj.unlink()
    }
}

impl AsFd for Barrier {
    /// The fd behind the barrier: send it and call [`Barrier::from_fd`] in the other process.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.obj.block().fd()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}
