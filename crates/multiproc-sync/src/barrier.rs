//! `Barrier`: a number of processes wait until all have arrived.

use crate::handle::shared_handle;
use multiproc_internal::clock::Deadline;
use multiproc_internal::errno::{invalid_data, invalid_input};
use multiproc_internal::futex;
use multiproc_internal::object::{Kind, SharedObject};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const KIND: Kind = Kind {
    magic: *b"MPBARIER",
    version: 1,
    payload: 64,
    name: "barrier",
};
/// `generation << 32 | resetting << 31 | broken << 30 | arrived`, changed only by
/// compare-exchange. A generation ends by release (the generation advances) or is broken
/// (timeout, abort, reset); a broken generation is frozen — it can no longer be released — and
/// its waiters leave one by one (each takes one off `arrived`). A reset with waiters marks the
/// generation broken and resetting; the last waiter to leave clears both, and arrivals wait
/// meanwhile, as in Python. So a released waiter is never reported broken, nor the reverse.
const STATE: usize = KIND.at(0);
/// Number of parties.
const PARTIES: usize = KIND.at(12);
/// Bumped on every release, break, departure from a broken generation and reset: the futex
/// word everyone sleeps on.
const WAKE: usize = KIND.at(16);
const RESETTING: u64 = 1 << 31;
const BROKEN: u64 = 1 << 30;
const ARRIVED: u64 = BROKEN - 1;

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
/// [`wait_timeout`](Barrier::wait_timeout). Likewise a participant that dies while waiting
/// never leaves: a reset then never completes, and arrivals wait for it until their deadline.
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
        // Written before the object is published: openers never see 0 parties.
        let obj = SharedObject::create(&KIND, name, |block| {
            block
                .atomic_u32(PARTIES)
                .expect("barrier words are inside the block")
                .store(parties, Ordering::Relaxed);
        })?;
        Ok(Barrier { obj })
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

    /// Whether the barrier is broken (until [`reset`](Barrier::reset)); false while a reset
    /// waits for the previous waiters to leave.
    pub fn is_broken(&self) -> bool {
        self.state().load(Ordering::Acquire) & (BROKEN | RESETTING) == BROKEN
    }

    /// How many participants are waiting right now.
    pub fn n_waiting(&self) -> u32 {
        let s = self.state().load(Ordering::Acquire);
        if s & BROKEN != 0 {
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

    /// Changes the state with `f` (returning `None` leaves it and stops); wakes everyone after
    /// a change. Returns the state `f` accepted, if any.
    fn update(&self, mut f: impl FnMut(u64) -> Option<u64>) -> Option<u64> {
        let state = self.state();
        let mut s = state.load(Ordering::Acquire);
        loop {
            let new = f(s)?;
            match state.compare_exchange(s, new, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => {
                    self.wake_everyone();
                    return Some(s);
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// Breaks `generation` if it is still current and not released; whether it is broken.
    fn break_generation(&self, generation: u32) -> bool {
        let state = self.state();
        loop {
            let s = state.load(Ordering::Acquire);
            if (s >> 32) as u32 != generation {
                return false; // released meanwhile
            }
            if s & BROKEN != 0 {
                return true;
            }
            if state
                .compare_exchange(s, s | BROKEN, Ordering::SeqCst, Ordering::Acquire)
                .is_ok()
            {
                self.wake_everyone();
                return true;
            }
        }
    }

    /// A waiter leaves a broken generation; the last one out finishes a pending reset.
    fn leave(&self) {
        self.update(|s| {
            let arrived = (s & ARRIVED).saturating_sub(1);
            Some(if arrived == 0 && s & RESETTING != 0 {
                s & !(ARRIVED | BROKEN | RESETTING)
            } else {
                (s & !ARRIVED) | arrived
            })
        });
    }

    fn wait_until(&self, deadline: Option<Deadline>) -> Result<u32, BrokenBarrier> {
        // Checked at open, but another process may write anything there since: never 0.
        let parties = self.parties().clamp(1, ARRIVED as u32);
        let state = self.state();
        let wake = self.u32(WAKE);
        let passed = || deadline.is_some_and(Deadline::has_passed);
        // Arrive.
        let (generation, index) = loop {
            // Read the wake word before the state, so a change in between makes the futex
            // return at once.
            let w = wake.load(Ordering::SeqCst);
            let s = state.load(Ordering::Acquire);
            let (generation, arrived) = ((s >> 32) as u32, (s & ARRIVED) as u32);
            if s & RESETTING != 0 {
                // A reset waits for the last generation's waiters to leave: wait with it.
                if passed() {
                    return Err(BrokenBarrier);
                }
                futex::wait(wake, w, deadline);
                continue;
            }
            if s & BROKEN != 0 {
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
        // Wait for the release, or for the generation to break.
        let mut spun = false;
        loop {
            let w = wake.load(Ordering::SeqCst);
            let s = state.load(Ordering::Acquire);
            if (s >> 32) as u32 != generation {
                return Ok(index); // released: a broken generation never advances
            }
            if s & BROKEN != 0 {
                self.leave();
                return Err(BrokenBarrier);
            }
            if passed() {
                // Python: a timeout breaks the barrier for everyone — unless it was released
                // just now, in which case we passed after all.
                if self.break_generation(generation) {
                    self.leave();
                    return Err(BrokenBarrier);
                }
                return Ok(index);
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
        self.update(|s| (s & BROKEN == 0).then_some(s | BROKEN));
    }

    /// Returns the barrier to its empty state: current waiters get [`BrokenBarrier`], and once
    /// they have all left, the barrier is usable again (arrivals meanwhile wait). Resetting a
    /// barrier nobody waits at breaks nothing.
    pub fn reset(&self) {
        self.update(|s| {
            Some(if s & ARRIVED == 0 {
                s & !(BROKEN | RESETTING)
            } else {
                s | BROKEN | RESETTING
            })
        });
    }
}

shared_handle!(Barrier, "barrier");

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

impl multiproc_internal::transfer::Transfer for Barrier {
    const TAG: [u8; 8] = *b"MPBARR\0\0";

    fn transfer_fd(&self) -> std::io::Result<std::os::fd::BorrowedFd<'_>> {
        Ok(std::os::fd::AsFd::as_fd(self))
    }

    fn from_transfer_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Self::from_fd(fd)
    }
}

multiproc_internal::serde_via_transfer!([] Barrier);
