//! W8: start + join of an empty child process.
//!
//! Rows of `w8_start_join`, one child started and joined per iteration:
//!
//! - `multiproc_process_fork`: `Process::new(|| {})`, `start`, `join`;
//! - `multiproc_spawn_unit`: `spawn(|| {})` and `join` (the value travels back through a
//!   memfd);
//! - `multiproc_process_spawn_method`: `Process` with `StartMethod::Spawn` running an empty
//!   `fn` (fork + exec of this binary; the entry hook runs the child before `main`);
//! - `multiproc_process_forkserver`: the same with `StartMethod::Forkserver` (the server,
//!   started once, forks the child and relays its exit status);
//! - `raw_fork_waitpid`: `fork`, the child `_exit(0)`s, `waitpid` — the floor;
//! - `command_bin_true`: `std::process::Command::new("/bin/true").status()` (fork + exec);
//! - `procspawn`: `procspawn::spawn((), |()| ())` and `join` (re-executes this binary);
//! - `python_multiprocessing`: `benches/python/w8_process.py`, `Process(target=f)` with
//!   `fork`, `forkserver` and `spawn`, printed beside criterion's rows.
//!
//! Compare rows measured in the same conditions: run each in a process of its own
//! (`cargo bench -p multiproc-benches --bench w8_process -- --exact w8_start_join/<row>`), as
//! the comparison report does. What a fork costs depends on the forking process's state, and
//! once criterion has analysed a row (its heap grown) every later fork costs more: here raw
//! `fork` + `waitpid` measured about 170 µs as the first row of a process and 260–470 µs
//! after one or two other rows. In one run of every row, the first is favoured.

use criterion::{criterion_group, Criterion, Throughput};
use multiproc_benches::python::{run_script, Invocation};
use multiproc_benches::sys::fork_waitpid_empty;
use multiproc_internal::testing::watchdog;
use multiproc_process::{spawn, Builder, Process, StartMethod};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(600);

fn empty((): ()) {}

fn w8(c: &mut Criterion) {
    let _watchdog = watchdog(LIMIT);
    let mut g = c.benchmark_group("w8_start_join");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_fork_waitpid", |b| b.iter(fork_waitpid_empty));
    g.bench_function("multiproc_process_fork", |b| {
        b.iter(|| {
            let mut p = Process::new(|| {});
            p.start().unwrap();
            assert!(p.join().unwrap().success());
        });
    });
    g.bench_function("multiproc_spawn_unit", |b| {
        b.iter(|| spawn(|| {}).unwrap().join().unwrap());
    });
    g.bench_function("multiproc_process_spawn_method", |b| {
        b.iter(|| {
            let mut p = Builder::new()
                .start_method(StartMethod::Spawn)
                .process_fn(empty, ());
            p.start().unwrap();
            assert!(p.join().unwrap().success());
        });
    });
    g.bench_function("multiproc_process_forkserver", |b| {
        b.iter(|| {
            let mut p = Builder::new()
                .start_method(StartMethod::Forkserver)
                .process_fn(empty, ());
            p.start().unwrap();
            assert!(p.join().unwrap().success());
        });
    });
    g.bench_function("command_bin_true", |b| {
        b.iter(|| {
            let st = std::process::Command::new("/bin/true").status().unwrap();
            assert!(st.success());
        });
    });
    g.bench_function("procspawn", |b| {
        b.iter(|| procspawn::spawn((), |()| ()).join().unwrap());
    });
    g.finish();

    let inv = Invocation::from_env();
    if inv.runs("w8_start_join/python_multiprocessing") {
        let n = if inv.is_test() { "5" } else { "2000" };
        run_script("w8_process.py", &[n.to_owned()]);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = w8
}

fn main() {
    // procspawn re-executes this binary; its children run their function here and exit.
    procspawn::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
