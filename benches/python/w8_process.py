"""W8 in Python: start + join of an empty Process, per start method.

Run: python3 benches/python/w8_process.py [N]   (N starts with fork; fewer with the others)
With MULTIPROC_BENCH_QUICK=1, N is capped at 20; with MULTIPROC_BENCH_FIGURES=1 each figure is
also printed as an `@figure` line (figures.py).
"""
import multiprocessing as mp
import sys
import time

from figures import capped, figure


def empty():
    pass


def run(method, n):
    ctx = mp.get_context(method)
    # One start first: forkserver starts its server then.
    p = ctx.Process(target=empty)
    p.start()
    p.join()
    start = time.monotonic()
    for _ in range(n):
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        assert p.exitcode == 0
    took = time.monotonic() - start
    print(f"w8 python {method}: {took / n * 1e6:.0f} us per start + join ({n} starts)")
    figure(f"w8_start_join/python_{method}", ns=took / n * 1e9, note=f"one run, {n:,} starts")


if __name__ == "__main__":
    n = capped(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, 20)
    run("fork", n)
    run("forkserver", max(1, n // 10))
    run("spawn", max(1, n // 40))
