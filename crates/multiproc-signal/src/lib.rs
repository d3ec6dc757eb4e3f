//! Unix signals without the footguns: Python's `signal` module (and `os.kill`), for Rust.
//!
//! ```
//! use multiproc_signal::{kill, Pid, Signal, Signals};
//!
//! # fn main() -> Result<(), multiproc_signal::SignalError> {
//! let mut signals = Signals::new([Signal::Usr1])?; // from now on SIGUSR1 is reported, not fatal
//! kill(Pid::this(), Signal::Usr1)?;
//! let got: Vec<Signal> = signals.wait().collect();
//! assert_eq!(got, [Signal::Usr1]);
//! # Ok(()) }
//! ```
//!
//! # What is here
//!
//! | Python | here |
//! |---|---|
//! | `signal.SIGTERM`, `signal.Signals` | [`Signal`] (names, numbers, parsing, [`DefaultAction`]) |
//! | `os.kill(pid, sig)`, `os.killpg` | [`kill`], [`kill_group`], [`PidFd::send`] (no recycled-pid accidents), [`is_alive`] |
//! | `signal.raise_signal` | [`raise`] |
//! | `signal.alarm`, `setitimer`, `getitimer` | [`alarm`], [`set_timer`], [`get_timer`] |
//! | `signal.pause()` | [`pause`], and the race-free [`suspend`] |
//! | `signal.sigwait`, `sigtimedwait` | [`wait`], [`wait_timeout`] |
//! | `signal.signal(sig, SIG_DFL / SIG_IGN)` | [`set_default`], [`ignore`] |
//! | `signal.signal(sig, handler)` | [`Signals`] (iterate), [`spawn_handler`] (a closure in a thread), [`SignalCounter`], `unsafe` [`register_raw`] |
//! | `signal.pthread_sigmask` | [`block`], [`unblock`] (guards), [`thread_mask`], [`pending`] |
//! | `signal.signal(SIGCHLD, SIG_IGN)` | [`ignore_children`] |
//!
//! # Handlers run as ordinary Rust
//!
//! Python runs handlers between bytecodes, in the main thread. The Rust equivalent is a handler
//! outside signal context: [`Signals`] hands signals over as values through a self-pipe
//! (signal-hook), and [`spawn_handler`] runs a closure for each in a dedicated thread; both
//! may do anything. Only [`register_raw`] runs code inside the handler, under a written
//! async-signal-safety contract. Handlers are refused for SIGKILL and SIGSTOP
//! ([`SignalError::Uncatchable`]) and for the fault signals ([`SignalError::Fault`]).
//!
//! # What multiproc does not do to your process
//!
//! - It installs no handler unless you ask: Ctrl-C keeps its default effect.
//! - Its blocking calls are not cut short by a signal whose handler returns: they retry with
//!   the time that is left.
//! - Writing to a closed pipe or socket is an error (`MSG_NOSIGNAL`; Rust binaries ignore
//!   SIGPIPE), not death by SIGPIPE.
//!
//! Linux only.

#![cfg(target_os = "linux")]

mod disposition;
mod error;
mod handler;
mod kill;
mod mask;
mod set;
mod signal;
mod sys;
mod timer;
mod wait;

pub use crate::{
    disposition::{ignore, ignore_children, is_ignored, set_default},
    error::SignalError,
    handler::{
        register_raw, spawn_handler, HandlerThread, RawHandler, SignalCounter, Signals,
        SignalsHandle,
    },
    kill::{is_alive, kill, kill_group, raise, Pid, PidFd},
    mask::{block, pending, thread_mask, unblock, MaskGuard},
    set::SignalSet,
    signal::{DefaultAction, Signal},
    timer::{alarm, get_timer, set_timer, Timer, TimerValue},
    wait::{pause, suspend, wait, wait_timeout},
};
