"""W8 in Python: start + join of an empty Process, per start method.

Run: python3 benches/python/w8_process.py [N]   (N starts with fork; fewer with the others)
"""
import multiprocessing as mp
import sys
import time


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


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    run("fork", n)
    run("forkserver", max(1, n // 10))
    run("spawn", max(1, n // 40))
