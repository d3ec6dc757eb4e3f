"""W9 and W9b in Python: multiprocessing.Pool(2) with the fork start method, as in the Rust bench
(benches/benches/w9_pool.rs), which runs this script once per group.

Run: python3 benches/python/w9_pool.py                      (all four, full counts)
     python3 benches/python/w9_pool.py map_default ITEMS RUNS
     python3 benches/python/w9_pool.py map_1000 ITEMS RUNS
     python3 benches/python/w9_pool.py map_1 ITEMS RUNS
     python3 benches/python/w9_pool.py round_trip CALLS

map_*: pool.map(identity, range(ITEMS)) with the default chunksize (ITEMS / 8 here: Python's
rule, len / (4 * processes) rounded up), chunksize=1000 or chunksize=1; RUNS timed runs after
a warm-up run, the median reported in items per second. The full count for chunksize=1 is
50,000 items, not 1,000,000 (at 17,000-33,000 items/s here one run would take a minute); the
figure is per second, so it stays comparable. round_trip: pool.apply_async(identity, (x,)).get(),
one call at a time, timed one by one after a warm-up; the median reported. The pool is started
(and its workers forked) before any timing. With MULTIPROC_BENCH_QUICK=1 the counts are capped
(20,000 items and one run per map, 2,000 items with chunksize 1, 100 calls); with
MULTIPROC_BENCH_FIGURES=1 each figure is also printed as an `@figure` line (figures.py), with
its spread: the slowest and fastest run of a map, the inter-quartile range of the calls.
"""
import multiprocessing as mp
import statistics
import sys
import time

from figures import capped, figure

PROCESSES = 2
GROUPS = {
    "map_default": ("w9_pool_map_default_chunks", None),
    "map_1000": ("w9_pool_map_chunksize_1000", 1000),
    "map_1": ("w9_pool_map_chunksize_1", 1),
}


def identity(x):
    return x


def pool():
    return mp.get_context("fork").Pool(PROCESSES)


def map_items(which, n, runs):
    group, chunksize = GROUPS[which]
    n = capped(n, 2000 if chunksize == 1 else 20000)
    runs = capped(runs, 1)
    with pool() as p:
        # Warm-up: the workers have run a task, the result handler thread is going.
        p.map(identity, range(min(n, 10000)), chunksize)
        took = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = p.map(identity, range(n), chunksize)
            took.append(time.perf_counter() - t0)
            assert len(out) == n and out[-1] == n - 1
    t = statistics.median(took)
    print(f"{group}/python_multiprocessing: {n / t / 1e6:.4f} Melem/s "
          f"(median of {runs} runs, {n:,} items in {t:.3f} s)")
    figure(f"{group}/python_multiprocessing", per_second=n / t, low_per_second=n / max(took),
           high_per_second=n / min(took), spread=f"slowest–fastest of {runs} runs",
           note=f"median of {runs} runs, {n:,} items")


def round_trip(n):
    n = capped(n, 100)
    with pool() as p:
        for x in range(max(10, n // 10)):
            assert p.apply_async(identity, (x,)).get() == x
        took = []
        for x in range(n):
            t0 = time.perf_counter()
            r = p.apply_async(identity, (x,)).get()
            took.append(time.perf_counter() - t0)
            assert r == x
    t = statistics.median(took)
    print(f"w9b_pool_apply_async_round_trip/python_multiprocessing: {t * 1e6:.2f} µs per round "
          f"trip (median of {n:,} calls)")
    quartiles = statistics.quantiles(took, n=4) if n > 1 else [t, t, t]
    figure("w9b_pool_apply_async_round_trip/python_multiprocessing", ns=t * 1e9,
           low_ns=quartiles[0] * 1e9, high_ns=quartiles[2] * 1e9,
           spread=f"inter-quartile range of {n:,} calls", note=f"median of {n:,} calls")


def main(argv):
    if not argv:
        map_items("map_default", 1000000, 5)
        map_items("map_1000", 1000000, 5)
        map_items("map_1", 50000, 3)
        round_trip(2000)
    elif argv[0] in GROUPS:
        map_items(argv[0], int(argv[1]), int(argv[2]))
    elif argv[0] == "round_trip":
        round_trip(int(argv[1]))
    else:
        sys.exit(f"unknown workload {argv[0]!r}: map_default, map_1000, map_1 or round_trip")


if __name__ == "__main__":
    main(sys.argv[1:])
