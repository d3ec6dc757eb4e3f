"""W4, W4b and W5 in Python: multiprocessing.Queue between processes (fork start method), as in
the Rust bench (benches/benches/w4_w5_queue.rs), which runs this script once per group.

Run: python3 benches/python/w4_w5_queue.py                 (all three, full counts)
     python3 benches/python/w4_w5_queue.py w4 MESSAGES
     python3 benches/python/w4_w5_queue.py w4b MESSAGES
     python3 benches/python/w4_w5_queue.py w5 ROUND_TRIPS

W4: the parent (CPU 0) puts MESSAGES 64-byte `bytes`, then None; the consumer process (CPU 1)
answers the None on a second queue with its count. W4b: two producer processes put half of
MESSAGES each, then None; two consumer processes take them and acknowledge each None; then the
parent sends each consumer a quit sentinel and checks their counts (producer i and consumer i
on CPU i). W5: the parent (CPU 0) puts a 64-byte request and gets the server's (CPU 1) copy of
it from a second queue. Times start once every process has said it is ready (process start-up
is not measured) and end when the last acknowledgement (or response) arrives. The same bytes
object is put every time: Python pickles it in the queue's feeder thread. With
MULTIPROC_BENCH_QUICK=1 the counts are capped (20,000 messages, 1,000 round trips); with
MULTIPROC_BENCH_FIGURES=1 each figure is also printed as an `@figure` line (figures.py).
"""
import multiprocessing as mp
import os
import sys
import time

from figures import capped, figure

MSG = 64
QUIT = "quit"


def pin(cpu):
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu % os.cpu_count()})
        except OSError:
            pass


def consumer(q, acks, cpu):
    """Takes messages; acknowledges each None; at QUIT, reports its count and returns."""
    pin(cpu)
    acks.put("ready")
    taken = 0
    while True:
        m = q.get()
        if m is None:
            acks.put("end")
        elif m == QUIT:
            acks.put(taken)
            return
        else:
            assert len(m) == MSG
            taken += 1


def producer(q, ready, go, n, cpu):
    pin(cpu)
    msg = b"\x07" * MSG
    ready.put("ready")
    go.wait()
    for _ in range(n):
        q.put(msg)
    q.put(None)


def w4(n):
    n = capped(n, 20000)
    pin(0)
    ctx = mp.get_context("fork")
    q, acks = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=consumer, args=(q, acks, 1))
    child.start()
    assert acks.get() == "ready"
    msg = b"\x07" * MSG
    t0 = time.perf_counter()
    for _ in range(n):
        q.put(msg)
    q.put(None)
    assert acks.get() == "end"
    took = time.perf_counter() - t0
    q.put(QUIT)
    assert acks.get() == n
    child.join()
    print(f"w4_queue_1to1_64B/python_multiprocessing: {n / took / 1e6:.4f} Melem/s "
          f"(one run, {n:,} messages in {took:.2f} s)")
    figure("w4_queue_1to1_64B/python_multiprocessing", per_second=n / took,
           note=f"one run, {n:,} messages")


def w4b(n):
    n = capped(n, 20000)
    ctx = mp.get_context("fork")
    q, acks, ready, go = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    shares = [n // 2 + n % 2, n // 2]
    procs = [ctx.Process(target=consumer, args=(q, acks, i)) for i in range(2)]
    procs += [ctx.Process(target=producer, args=(q, ready, go, shares[i], i)) for i in range(2)]
    for p in procs:
        p.start()
    for _ in range(2):
        assert acks.get() == "ready"
        assert ready.get() == "ready"
    t0 = time.perf_counter()
    go.set()
    for _ in range(2):
        assert acks.get() == "end"
    took = time.perf_counter() - t0
    for _ in range(2):
        q.put(QUIT)
    assert acks.get() + acks.get() == n
    for p in procs:
        p.join()
    print(f"w4b_queue_2to2_64B/python_multiprocessing: {n / took / 1e6:.4f} Melem/s "
          f"(one run, {n:,} messages in {took:.2f} s)")
    figure("w4b_queue_2to2_64B/python_multiprocessing", per_second=n / took,
           note=f"one run, {n:,} messages")


def server(requests, responses):
    pin(1)
    responses.put("ready")
    while True:
        m = requests.get()
        if m is None:
            return
        responses.put(m)


def w5(n):
    n = capped(n, 1000)
    pin(0)
    ctx = mp.get_context("fork")
    requests, responses = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=server, args=(requests, responses))
    child.start()
    assert responses.get() == "ready"
    msg = b"\x07" * MSG
    t0 = time.perf_counter()
    for _ in range(n):
        requests.put(msg)
        assert responses.get() == msg
    took = time.perf_counter() - t0
    requests.put(None)
    child.join()
    print(f"w5_queue_round_trip_64B/python_multiprocessing: {took / n * 1e6:.2f} µs per round "
          f"trip (one run, {n:,} round trips)")
    figure("w5_queue_round_trip_64B/python_multiprocessing", ns=took / n * 1e9,
           note=f"one run, {n:,} round trips")


def main(argv):
    if not argv:
        w4(1000000)
        w4b(1000000)
        w5(20000)
    elif argv[0] == "w4":
        w4(int(argv[1]))
    elif argv[0] == "w4b":
        w4b(int(argv[1]))
    elif argv[0] == "w5":
        w5(int(argv[1]))
    else:
        sys.exit(f"unknown workload {argv[0]!r}: w4, w4b or w5")


if __name__ == "__main__":
    main(sys.argv[1:])
