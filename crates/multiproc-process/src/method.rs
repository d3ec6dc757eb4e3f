//! Start methods: how a child process comes to be.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// How a child process is started (Python's start methods).
///
/// | method | what the child is | what it runs |
/// |---|---|---|
/// | [`Fork`](StartMethod::Fork) (default) | a copy of this process (`fork`) | closures (anything they captured), or `fn` items |
/// | [`Spawn`](StartMethod::Spawn) | this program started afresh (`exec` of `/proc/self/exe`) | `fn` items with a serialized argument |
/// | [`Forkserver`](StartMethod::Forkserver) | a fork of a single-threaded server started once by `exec` | `fn` items with a serialized argument |
///
/// `Fork` is the fastest (≈ 1.3× a raw `fork`) and the only one that runs closures. Forking a
/// multi-threaded program copies only the calling thread, so a lock another thread held at
/// that moment stays locked in the child; `Spawn` starts a clean single-threaded program
/// instead, at the cost of an `exec` and of serializing the argument. `Forkserver` is the
/// recommendation for threaded programs: its children are forks of a clean single-threaded
/// server, without an `exec` each.
///
/// `Spawn` and `Forkserver` need no change to `main`: the child (and the server) is caught by an entry hook that runs before
/// `main` (an ELF constructor of this crate), in every binary that links it, test and bench
/// binaries included. It runs the function whose address (as an offset from an anchor in the
/// same binary) came with the job, so it requires the crate to be linked statically into the
/// executable (cargo's default), and it refuses to run in a set-user-ID or set-group-ID
/// program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StartMethod {
    /// `fork()`: the child is a copy of this process.
    #[default]
    Fork,
    /// `fork()` + `exec("/proc/self/exe")`: the child is this program started afresh, which
    /// runs only the function it was given.
    Spawn,
    /// A fork of a server process that was started once, by `exec`, and is single-threaded:
    /// safe in threaded programs, and much cheaper per child than `Spawn`. The child's
    /// parent is the server, which relays its exit status; `fn` items only.
    Forkserver,
}

impl StartMethod {
    /// Python's name for it: `"fork"`, `"spawn"`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }

    /// Whether it can run a closure (only [`StartMethod::Fork`]).
    pub fn runs_closures(self) -> bool {
        self == StartMethod::Fork
    }

    fn from_u8(v: u8) -> StartMethod {
        match v {
            1 => StartMethod::Spawn,
            2 => StartMethod::Forkserver,
            _ => StartMethod::Fork,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            StartMethod::Fork => 0,
            StartMethod::Spawn => 1,
            StartMethod::Forkserver => 2,
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

static DEFAULT: AtomicU8 = AtomicU8::new(0);

/// Sets the start method of processes whose [`Builder`](crate::Builder) names none (Python's
/// `set_start_method`). Process-wide; children started by `fork` inherit it.
pub fn set_start_method(method: StartMethod) {
    DEFAULT.store(method.as_u8(), Ordering::Relaxed);
}

/// The start method of processes whose [`Builder`](crate::Builder) names none (Python's
/// `get_start_method`): [`StartMethod::Fork`] unless [`set_start_method`] said otherwise.
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(DEFAULT.load(Ordering::Relaxed))
}
