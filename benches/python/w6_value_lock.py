"""W6 in Python: 2 processes x N increments of a multiprocessing.Value under get_lock() (an
RLock), and of a RawValue under a Lock.

Run: python3 benches/python/w6_value_lock.py [N]   (prints increments per second)
Workers are pinned one per CPU and start together at a barrier, like the Rust bench. With
MULTIPROC_BENCH_QUICK=1, N is capped at 20,000; with MULTIPROC_BENCH_FIGURES=1 each figure is
also printed as an `@figure` line (figures.py).
"""
import multiprocessing as mp
import os
import sys
import time

from figures import capped, figure


def worker(i, value, lock, barrier, n, out):
    os.sched_setaffinity(0, {i % os.cpu_count()})
    barrier.wait()
    start = time.monotonic()
    for _ in range(n):
        with lock:
            value.value += 1
    out[2 * i] = start
    out[2 * i + 1] = time.monotonic()


def run(label, figure_id, value, lock, n):
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(2)
    out = ctx.RawArray("d", 4)
    procs = [
        ctx.Process(target=worker, args=(i, value, lock, barrier, n, out)) for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert value.value == 2 * n, value.value
    span = max(out[1], out[3]) - min(out[0], out[2])
    print(f"w6 python {label}: {2 * n / span / 1e6:.3f} M increments/s")
    figure(figure_id, per_second=2 * n / span, note=f"one run, 2 × {n:,} increments")


def main():
    n = capped(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000, 20_000)
    ctx = mp.get_context("fork")
    value = ctx.Value("Q", 0)
    run("Value.get_lock", "w6_locked_counter/python_value_get_lock", value, value.get_lock(), n)
    run("Lock + RawValue", "w6_locked_counter/python_lock_raw_value", ctx.RawValue("Q", 0),
        ctx.Lock(), n)


if __name__ == "__main__":
    main()
