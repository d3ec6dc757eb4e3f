//! The comparison report: runs every workload (W1–W10, the lock and signal micro-benches) for
//! multiproc and its peers, Python included, and writes `docs/benchmarks.md`'s generated block
//! and `docs/benchmarks/*.svg`. `--help` for the options; [`multiproc_benches::report`] for
//! how it works.

fn main() -> std::process::ExitCode {
    multiproc_benches::report::main()
}
