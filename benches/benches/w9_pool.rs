//! W9: a pool of 2 worker processes maps `identity` over integers (items per second); W9b: one
//! `apply_async(identity, x).get()` round trip on a pool of 2.
//!
//! Groups and rows (each pool is started, and its workers running, before any row is timed):
//!
//! - `w9_pool_map_default_chunks`, `w9_pool_map_chunksize_1000`, `w9_pool_map_chunksize_1`:
//!   one iteration maps `identity` over `0..n` and collects the `Vec<u64>`;
//!   - `multiproc_fork`: `Pool::new(2)` (fork start method), `map` (Python's default chunksize:
//!     `n / (4 × processes)` rounded up, 125,000 for 1,000,000 items) or `map_chunked`, over
//!     1,000,000 items;
//!   - `procspawn_pool`: `procspawn::Pool::new(2)`, which has no `map`: with chunks, one job per
//!     chunk, each mapping a `Vec<u64>` (default chunks: the same 8 chunks of 125,000 as
//!     Python's rule; then chunks of 1000), over 1,000,000 items; per item, one job per `u64`
//!     over **20,000 items only** (one job costs a process hand-off and two fresh ipc-channel
//!     channels: 1,000,000 jobs would take minutes per iteration). Jobs are kept 8 in flight
//!     (procspawn queues them to its workers) and joined in order. Throughput is set per row,
//!     so criterion's items/s stay comparable across rows;
//!   - `python_multiprocessing`: `benches/python/w9_pool.py`, `multiprocessing.Pool(2)` with
//!     the fork context, `map(identity, range(n))` with the same chunking (chunksize 1 over
//!     50,000 items), printed beside criterion's rows.
//! - `w9b_pool_apply_async_round_trip`, one call per iteration:
//!   - `multiproc_fork` and `multiproc_forkserver`: `pool.apply_async(identity, x)?.get()?`;
//!   - `procspawn_pool`: `pool.spawn(x, identity).join()`;
//!   - `python_multiprocessing`: `pool.apply_async(identity, (x,)).get()`, the median of 2,000
//!     calls.
//!
//! Under `cargo test --benches` (criterion's test mode: each row runs once) the per-item rows
//! map 100 items and Python runs with small counts; the chunked rows keep their 1,000,000 items,
//! so that large chunks are exercised there too.

use criterion::{criterion_group, BenchmarkGroup, Criterion, Throughput};
use multiproc_benches::python::{run_script, Invocation};
use multiproc_internal::testing::watchdog;
use multiproc_process::{Pool, StartMethod};
use std::collections::VecDeque;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(900);

/// Worker processes in every pool.
const PROCESSES: usize = 2;

/// Items of the chunked maps (W9).
const ITEMS: u64 = 1_000_000;

/// Items of multiproc's `map_chunked(.., 1)`.
const MULTIPROC_PER_ITEM: u64 = 1_000_000;

/// Items of procspawn's one-job-per-item map.
const PROCSPAWN_PER_ITEM: u64 = 20_000;

/// Items of the per-item rows in test mode.
const TEST_PER_ITEM: u64 = 100;

/// procspawn jobs submitted and not yet joined.
const WINDOW: usize = 8;

fn identity(x: u64) -> u64 {
    x
}

fn identity_chunk(xs: Vec<u64>) -> Vec<u64> {
    xs.into_iter().map(identity).collect()
}

/// How a map splits its items into tasks.
#[derive(Debug, Clone, Copy)]
enum Chunks {
    /// Python's rule, as `Pool::map` applies it.
    Default,
    /// Tasks of this many items.
    Size(usize),
}

impl Chunks {
    /// The chunk size for `n` items.
    fn size(self, n: u64) -> usize {
        match self {
            // Python: `chunksize, extra = divmod(len, processes * 4); if extra: chunksize += 1`.
            Chunks::Default => (n as usize).div_ceil(PROCESSES * 4),
            Chunks::Size(size) => size,
        }
    }
}

/// The result of mapping `identity` over `0..n`, checked where it is cheap.
fn check(v: &[u64], n: u64) {
    assert_eq!(v.len() as u64, n);
    for i in [0, n / 2, n - 1] {
        assert_eq!(v[i as usize], i);
    }
}

fn multiproc_map(pool: &Pool, n: u64, chunks: Chunks) -> Vec<u64> {
    match chunks {
        Chunks::Default => pool.map(identity, 0..n),
        Chunks::Size(size) => pool.map_chunked(identity, 0..n, size),
    }
    .unwrap()
}

/// Submits `jobs` with `spawn`, at most [`WINDOW`] of them not yet joined, and `join`s them in
/// order.
fn windowed<J, H>(
    jobs: impl IntoIterator<Item = J>,
    mut spawn: impl FnMut(J) -> H,
    mut join: impl FnMut(H),
) {
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    for job in jobs {
        if in_flight.len() == WINDOW {
            join(in_flight.pop_front().unwrap());
        }
        in_flight.push_back(spawn(job));
    }
    for h in in_flight {
        join(h);
    }
}

fn procspawn_map(pool: &procspawn::Pool, n: u64, chunks: Chunks) -> Vec<u64> {
    let mut out = Vec::with_capacity(n as usize);
    match chunks.size(n) {
        1 => windowed(
            0..n,
            |x| pool.spawn(x, identity),
            |h| out.push(h.join().unwrap()),
        ),
        size => {
            let size = size as u64;
            let starts = (0..n).step_by(size as usize);
            windowed(
                starts.map(|s| (s..n.min(s + size)).collect::<Vec<u64>>()),
                |chunk| pool.spawn(chunk, identity_chunk),
                |h| out.extend(h.join().unwrap()),
            );
        }
    }
    out
}

/// Python's figures for `group`: `args` when measuring, `test_args` in test mode.
fn python(inv: &Invocation, group: &str, args: &[&str], test_args: &[&str]) {
    if !inv.runs(&format!("{group}/python_multiprocessing")) {
        return;
    }
    let args = if inv.is_test() { test_args } else { args };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_script("w9_pool.py", &args);
}

fn map_row<P>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    pool: &P,
    n: u64,
    chunks: Chunks,
    map: fn(&P, u64, Chunks) -> Vec<u64>,
) {
    g.throughput(Throughput::Elements(n));
    g.bench_function(name, |b| {
        b.iter(|| {
            let v = map(pool, n, chunks);
            check(&v, n);
            v
        });
    });
}

/// One W9 group: multiproc, procspawn, then Python (`script` is the script's workload name).
fn map_group(c: &mut Criterion, inv: &Invocation, group: &str, chunks: Chunks, script: &str) {
    let per_item = matches!(chunks, Chunks::Size(1));
    let (multiproc_n, procspawn_n) = match (per_item, inv.is_test()) {
        (false, _) => (ITEMS, ITEMS),
        (true, false) => (MULTIPROC_PER_ITEM, PROCSPAWN_PER_ITEM),
        (true, true) => (TEST_PER_ITEM, TEST_PER_ITEM),
    };
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    let pool = Pool::new(PROCESSES).unwrap();
    // Workers started and serving before the first timed map.
    check(&multiproc_map(&pool, 1000, chunks), 1000);
    map_row(
        &mut g,
        "multiproc_fork",
        &pool,
        multiproc_n,
        chunks,
        multiproc_map,
    );
    drop(pool);

    let pool = procspawn::Pool::new(PROCESSES).unwrap();
    check(&procspawn_map(&pool, 100, Chunks::Size(10)), 100);
    map_row(
        &mut g,
        "procspawn_pool",
        &pool,
        procspawn_n,
        chunks,
        procspawn_map,
    );
    pool.shutdown();
    g.finish();

    let (items, runs) = if per_item {
        ("50000", "3")
    } else {
        ("1000000", "5")
    };
    let test_items = if per_item { "100" } else { "10000" };
    python(
        inv,
        group,
        &[script, items, runs],
        &[script, test_items, "1"],
    );
}

/// W9b: one `apply_async(..).get()` (or its procspawn equivalent) per iteration.
fn round_trip(c: &mut Criterion, inv: &Invocation) {
    let group = "w9b_pool_apply_async_round_trip";
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    for (name, method) in [
        ("multiproc_fork", StartMethod::Fork),
        ("multiproc_forkserver", StartMethod::Forkserver),
    ] {
        let pool = Pool::builder()
            .processes(PROCESSES)
            .start_method(method)
            .build()
            .unwrap();
        assert_eq!(pool.apply_async(identity, 1).unwrap().get().unwrap(), 1);
        let mut x = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                x += 1;
                let r = pool.apply_async(identity, x).unwrap();
                assert_eq!(r.get().unwrap(), x);
            });
        });
    }

    let pool = procspawn::Pool::new(PROCESSES).unwrap();
    assert_eq!(pool.spawn(1, identity).join().unwrap(), 1);
    let mut x = 0u64;
    g.bench_function("procspawn_pool", |b| {
        b.iter(|| {
            x += 1;
            assert_eq!(pool.spawn(x, identity).join().unwrap(), x);
        });
    });
    pool.shutdown();
    g.finish();

    python(inv, group, &["round_trip", "2000"], &["round_trip", "20"]);
}

fn w9(c: &mut Criterion) {
    let _watchdog = watchdog(LIMIT);
    let inv = Invocation::from_env();
    map_group(
        c,
        &inv,
        "w9_pool_map_default_chunks",
        Chunks::Default,
        "map_default",
    );
    map_group(
        c,
        &inv,
        "w9_pool_map_chunksize_1000",
        Chunks::Size(1000),
        "map_1000",
    );
    map_group(c, &inv, "w9_pool_map_chunksize_1", Chunks::Size(1), "map_1");
    round_trip(c, &inv);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = w9
}

fn main() {
    // procspawn re-executes this binary; its children run their job here and exit.
    procspawn::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
