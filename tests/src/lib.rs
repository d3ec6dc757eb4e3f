//! Scenarios across multiproc crates (not published). The tests are in `tests/`; helper
//! binaries that play unrelated programs are in `src/bin/`.
//!
//! The guide's chapters (`docs/guide/src/`) are doc tests of this crate: every Rust block in
//! them compiles, and runs unless marked otherwise, under `cargo test --workspace`.

/// The root README's example compiles and runs.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct RootReadme;

/// Makes each guide chapter a doc comment of a unit struct, so rustdoc tests its code blocks.
macro_rules! guide {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[cfg(doctest)]
            #[doc = include_str!(concat!("../../docs/guide/src/", $file))]
            pub struct $name;
        )*
    };
}

guide! {
    GuideIntroduction => "introduction.md",
    GuideGettingStarted => "getting-started.md",
    GuideSharedMemory => "shared-memory.md",
    GuideLocks => "locks.md",
    GuideSemaphores => "semaphores.md",
    GuideSignals => "signals.md",
    GuidePipes => "pipes.md",
    GuideQueues => "queues.md",
    GuideProcesses => "processes.md",
    GuidePool => "pool.md",
    GuideStartMethods => "start-methods.md",
    GuideFailureSemantics => "failure-semantics.md",
    GuideSecurity => "security.md",
    GuidePerformance => "performance.md",
    GuideMigrating => "migrating.md",
    GuideSupportMatrix => "support-matrix.md",
    GuideOutOfScope => "out-of-scope.md",
}
