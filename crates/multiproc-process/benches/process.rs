//! multiproc-process's own figures:
//!
//! - W8 `w8_start_join`: start and join an empty child — a [`Process`] (`process_fork`), a
//!   [`spawn`]ed closure returning `()` (`spawn_unit`), a `Process` started by
//!   `StartMethod::Spawn` (`process_spawn_method`: fork + exec of this binary), one started by
//!   `StartMethod::Forkserver` (`process_forkserver`), and, for
//!   scale, `std::process::Command`
//!   running `/bin/true` (`command_bin_true`: fork + exec + wait);
//! - `spawn_value_1MiB`: a spawned closure returning a 1 MiB `Vec<u8>`, joined (bytes per
//!   second).
//!
//! Raw `fork` + `waitpid`, procspawn and Python's `Process` are in the workspace's `benches`
//! package (`w8_process`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use multiproc_internal::testing::watchdog;
use multiproc_process::{spawn, Builder, Process, StartMethod};
use std::hint::black_box;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

fn empty((): ()) {}

fn w8(c: &mut Criterion) {
    let _watchdog = watchdog(LIMIT);
    let mut g = c.benchmark_group("w8_start_join");
    g.throughput(Throughput::Elements(1));
    g.bench_function("process_fork", |b| {
        b.iter(|| {
            let mut p = Process::new(|| {});
            p.start().unwrap();
            assert!(p.join().unwrap().success());
        });
    });
    g.bench_function("spawn_unit", |b| {
        b.iter(|| spawn(|| {}).unwrap().join().unwrap());
    });
    g.bench_function("process_spawn_method", |b| {
        b.iter(|| {
            let mut p = Builder::new()
                .start_method(StartMethod::Spawn)
                .process_fn(empty, ());
            p.start().unwrap();
            assert!(p.join().unwrap().success());
        });
    });
    g.bench_function("process_forkserver", |b| {
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
    g.finish();
}

fn spawn_value(c: &mut Criterion) {
    let _watchdog = watchdog(LIMIT);
    const LEN: usize = 1 << 20;
    let mut g = c.benchmark_group("spawn_value_1MiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.bench_function("spawn_vec_u8", |b| {
        b.iter(|| {
            let v = spawn(|| vec![7u8; LEN]).unwrap().join().unwrap();
            assert_eq!(black_box(v).len(), LEN);
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = w8, spawn_value
}
criterion_main!(benches);
