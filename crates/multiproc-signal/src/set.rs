//! `SignalSet`: a set of signals, by value.

use crate::Signal;
use std::fmt;

/// A set of signals (Linux numbers 1–64), `Copy`.
///
/// ```
/// use multiproc_signal::{Signal, SignalSet};
///
/// let set: SignalSet = [Signal::Usr1, Signal::Term].into_iter().collect();
/// assert!(set.contains(Signal::Term));
/// assert_eq!(set.iter().count(), 2);
/// ```
///
/// A signal this system does not have (a [`Signal::Realtime`] beyond `SIGRTMAX`) is not a
/// member, but the set remembers it was given one: every operation taking the set then fails
/// with [`SignalError::Invalid`](crate::SignalError::Invalid) instead of quietly doing less.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignalSet(u64, Option<Signal>);

impl SignalSet {
    /// The empty set.
    pub const fn empty() -> SignalSet {
        SignalSet(0, None)
    }

    fn bit(sig: Signal) -> Option<u64> {
        match sig.checked_raw() {
            Ok(n) if (1..=64).contains(&n) => Some(1u64 << (n - 1)),
            _ => None,
        }
    }

    /// Adds `sig`.
    pub fn insert(&mut self, sig: Signal) -> &mut Self {
        match Self::bit(sig) {
            Some(b) => self.0 |= b,
            None => self.1 = Some(sig),
        }
        self
    }

    /// Fails if an invalid signal was inserted.
    pub(crate) fn checked(self) -> Result<SignalSet, crate::SignalError> {
        match self.1 {
            Some(bad) => Err(crate::SignalError::Invalid(bad.to_string())),
            None => Ok(self),
        }
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: Signal) -> &mut Self {
        if let Some(b) = Self::bit(sig) {
            self.0 &= !b;
        }
        self
    }

    /// Whether `sig` is in the set.
    pub fn contains(&self, sig: Signal) -> bool {
        Self::bit(sig).is_some_and(|b| self.0 & b != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The signals in the set, by number.
    pub fn iter(&self) -> impl Iterator<Item = Signal> + '_ {
        (1..=64)
            .filter(|n| self.0 & (1u64 << (n - 1)) != 0)
            .filter_map(|n| Signal::from_raw(n).ok())
    }

    pub(crate) fn bits(self) -> u64 {
        self.0
    }

    pub(crate) fn from_bits(bits: u64) -> SignalSet {
        SignalSet(bits, None)
    }
}

impl FromIterator<Signal> for SignalSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> Self {
        let mut s = SignalSet::empty();
        for sig in iter {
            s.insert(sig);
        }
        s
    }
}

impl From<Signal> for SignalSet {
    fn from(sig: Signal) -> Self {
        [sig].into_iter().collect()
    }
}

impl<const N: usize> From<[Signal; N]> for SignalSet {
    fn from(sigs: [Signal; N]) -> Self {
        sigs.into_iter().collect()
    }
}

impl fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}
