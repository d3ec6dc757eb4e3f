"""W7 in Python: Semaphore, Event and Lock + Condition ping-pong round trips between two
processes.

Run: python3 benches/python/w7_ping_pong.py [N]   (prints microseconds per round trip)
With MULTIPROC_BENCH_QUICK=1, N is capped at 1,000; with MULTIPROC_BENCH_FIGURES=1 each figure
is also printed as an `@figure` line (figures.py).
"""
import multiprocessing as mp
import sys
import time

from figures import capped, figure

FIGURE_IDS = {
    "Semaphore": "w7_ping_pong/python_semaphore",
    "Event": "w7_ping_pong/python_event",
    "Lock + Condition": "w7_ping_pong/python_lock_condition",
}


def sem_child(ping, pong, n):
    for _ in range(n):
        ping.acquire()
        pong.release()


def event_child(ping, pong, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def cond_child(cond, turn, n):
    with cond:
        for _ in range(n):
            cond.wait_for(lambda: turn.value == 1)
            turn.value = 0
            cond.notify()


def run(kind, n):
    ctx = mp.get_context("fork")
    if kind == "Semaphore":
        ping, pong = ctx.Semaphore(0), ctx.Semaphore(0)
        child = ctx.Process(target=sem_child, args=(ping, pong, n))
        child.start()
        start = time.monotonic()
        for _ in range(n):
            ping.release()
            pong.acquire()
    elif kind == "Lock + Condition":
        # A turn word handed back and forth, as in the Rust bench.
        cond, turn = ctx.Condition(ctx.Lock()), ctx.RawValue("I", 0)
        child = ctx.Process(target=cond_child, args=(cond, turn, n))
        child.start()
        start = time.monotonic()
        with cond:
            for _ in range(n):
                turn.value = 1
                cond.notify()
                cond.wait_for(lambda: turn.value == 0)
    else:
        ping, pong = ctx.Event(), ctx.Event()
        child = ctx.Process(target=event_child, args=(ping, pong, n))
        child.start()
        start = time.monotonic()
        for _ in range(n):
            ping.set()
            pong.wait()
            pong.clear()
    took = time.monotonic() - start
    child.join()
    print(f"w7 python {kind}: {took / n * 1e6:.1f} us per round trip")
    figure(FIGURE_IDS[kind], ns=took / n * 1e9, note=f"one run, {n:,} round trips")


if __name__ == "__main__":
    n = capped(int(sys.argv[1]) if len(sys.argv) > 1 else 20000, 1000)
    run("Semaphore", n)
    run("Event", n)
    run("Lock + Condition", n)
