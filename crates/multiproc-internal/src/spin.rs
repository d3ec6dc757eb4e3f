//! The adaptive spin before a blocking wait: the first half of the spin-then-sleep wait of the
//! pipe's transports and the queue.

use std::time::{Duration, Instant};

/// How long a waiting side keeps looking (at a socket, a ring) before it sleeps: a peer that answers
/// within microseconds is then met awake, which spares it the cost of waking this process (on
/// a VM, tens of microseconds per wake-up). Adapts to what spinning achieves: a spin that finds
/// data restores the full budget, one that ends without data halves it, down to nothing, so an
/// idle or slow peer costs no CPU after a few waits. With no budget left, every 16th wait
/// probes with a short spin, to notice a peer that has become prompt. (A peer that shares this
/// process's CPU cannot answer during a spin: the spins miss and fade, and the probes cost a
/// twentieth of a wait's time.) On a machine with one CPU it never spins.
#[derive(Debug, Clone, Copy)]
pub struct Spin {
    budget_ns: u32,
    /// Waits since the last spin or probe, while the budget is spent.
    idle_waits: u8,
    /// Whether the machine has more than one CPU online.
    multi_cpu: bool,
}

/// CPUs online, read once.
pub fn online_cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| {
        // SAFETY: sysconf only reads system configuration.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        usize::try_from(n).unwrap_or(1).max(1)
    })
}

/// The longest spin before sleeping.
const MAX_SPIN_NS: u32 = 50_000;
/// Budgets below this are not worth a spin.
const MIN_SPIN_NS: u32 = 1_000;
/// A probe's spin, once every `PROBE_EVERY` waits while the budget is spent.
const PROBE_SPIN_NS: u32 = 20_000;
const PROBE_EVERY: u8 = 16;

impl Default for Spin {
    fn default() -> Self {
        Self::new()
    }
}

impl Spin {
    /// A spin with the full budget (none on a machine with one CPU).
    pub fn new() -> Spin {
        Spin {
            budget_ns: MAX_SPIN_NS,
            idle_waits: 0,
            multi_cpu: online_cpus() > 1,
        }
    }

    /// How long the coming wait may spin, in nanoseconds (0: sleep at once).
    pub fn plan(&mut self) -> u32 {
        if !self.multi_cpu {
            return 0;
        }
        if self.budget_ns > 0 {
            return self.budget_ns;
        }
        self.idle_waits += 1;
        if self.idle_waits >= PROBE_EVERY {
            self.idle_waits = 0;
            return PROBE_SPIN_NS;
        }
        0
    }

    /// The awaited thing came during a spin: the full budget again.
    pub fn hit(&mut self) {
        self.budget_ns = MAX_SPIN_NS;
        self.idle_waits = 0;
    }

    /// Spins until `found()` (asked `checks` times between looks at the clock), for as long
    /// as the budget allows and `deadline` leaves; whether it was found. A spin cut short by
    /// the deadline says nothing of the peer and leaves the budget alone.
    pub fn spin_until(
        &mut self,
        deadline: Option<Instant>,
        checks: u32,
        mut found: impl FnMut() -> bool,
    ) -> bool {
        let budget = self.plan();
        if budget == 0 {
            return false;
        }
        let full = Instant::now() + Duration::from_nanos(u64::from(budget));
        let end = deadline.map_or(full, |d| full.min(d));
        loop {
            for _ in 0..checks {
                if found() {
                    self.hit();
                    return true;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= end {
                if end == full {
                    self.miss();
                }
                return false;
            }
        }
    }

    /// A whole spin passed without it: half the budget (none below the minimum).
    pub fn miss(&mut self) {
        self.budget_ns /= 2;
        if self.budget_ns < MIN_SPIN_NS {
            self.budget_ns = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spin_fades_when_it_never_pays_and_returns_when_it_does() {
        let mut s = Spin::new();
        s.multi_cpu = true;
        assert_eq!(s.plan(), MAX_SPIN_NS);
        let mut misses = 0;
        while s.budget_ns > 0 {
            s.miss();
            misses += 1;
        }
        assert!(misses <= 6, "{misses} fruitless spins before it stops");
        // Spent: most waits sleep at once; one in PROBE_EVERY probes.
        let planned: Vec<u32> = (0..PROBE_EVERY).map(|_| s.plan()).collect();
        assert_eq!(planned.iter().filter(|&&p| p == 0).count(), 15);
        assert_eq!(planned.last(), Some(&PROBE_SPIN_NS));
        s.hit();
        assert_eq!(s.plan(), MAX_SPIN_NS);
    }

    #[test]
    fn a_machine_with_one_cpu_never_spins() {
        let mut s = Spin::new();
        s.multi_cpu = false;
        assert!((0..100).all(|_| s.plan() == 0));
    }
}
