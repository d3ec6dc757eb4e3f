"""W1-W3 in Python: multiprocessing.Pipe() between a parent and a child Process (fork start
method), with send_bytes/recv_bytes. The parent runs on CPU 0, the child on CPU 1, as in the
Rust bench (benches/benches/w1_w3_pipe.rs), which runs this script once per group.

Run: python3 benches/python/w1_w3_pipe.py                 (all three, full counts)
     python3 benches/python/w1_w3_pipe.py w1 ROUND_TRIPS
     python3 benches/python/w1_w3_pipe.py w2 MESSAGES
     python3 benches/python/w1_w3_pipe.py w3 MAX_MESSAGES MAX_SECONDS

W1: round trip of a 64-byte message (the child echoes it). W2: one way, 64-byte messages.
W3: one way, 1 MiB messages, up to MAX_MESSAGES of them, fewer if sending takes longer than
MAX_SECONDS. A one-way run ends with an empty message that the child acknowledges, and the
time includes it. Times start once the child has said it is ready (process start-up is not
measured). With MULTIPROC_BENCH_QUICK=1 the counts are capped (1,000 round trips, 20,000
messages, 32 MiB); with MULTIPROC_BENCH_FIGURES=1 each figure is also printed as an `@figure`
line (figures.py).
"""
import multiprocessing as mp
import os
import sys
import time

from figures import capped, figure

SMALL = 64
LARGE = 1 << 20


def pin(cpu):
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu % os.cpu_count()})
        except OSError:
            pass


def echo_child(conn):
    pin(1)
    conn.send_bytes(b"ready")
    while True:
        m = conn.recv_bytes()
        if not m:
            return
        conn.send_bytes(m)


def sink_child(conn):
    pin(1)
    conn.send_bytes(b"ready")
    while True:
        m = conn.recv_bytes()
        if not m:
            conn.send_bytes(b"ack")
            return


def start(target):
    pin(0)
    ctx = mp.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=target, args=(theirs,))
    child.start()
    theirs.close()
    assert ours.recv_bytes() == b"ready"
    return ours, child


def w1(n):
    n = capped(n, 1000)
    conn, child = start(echo_child)
    msg = b"\x07" * SMALL
    t0 = time.perf_counter()
    for _ in range(n):
        conn.send_bytes(msg)
        conn.recv_bytes()
    took = time.perf_counter() - t0
    conn.send_bytes(b"")
    child.join()
    print(f"w1_round_trip_64B/python_multiprocessing: {took / n * 1e6:.2f} µs per round trip "
          f"(one run, {n:,} round trips)")
    figure("w1_round_trip_64B/python_multiprocessing", ns=took / n * 1e9,
           note=f"one run, {n:,} round trips")


def w2(n):
    n = capped(n, 20000)
    conn, child = start(sink_child)
    msg = b"\x07" * SMALL
    t0 = time.perf_counter()
    for _ in range(n):
        conn.send_bytes(msg)
    conn.send_bytes(b"")
    assert conn.recv_bytes() == b"ack"
    took = time.perf_counter() - t0
    child.join()
    print(f"w2_one_way_64B/python_multiprocessing: {n / took / 1e6:.4f} Melem/s "
          f"(one run, {n:,} messages in {took:.2f} s)")
    figure("w2_one_way_64B/python_multiprocessing", per_second=n / took,
           note=f"one run, {n:,} messages")


def w3(max_messages, max_seconds):
    max_messages = capped(max_messages, 32)
    conn, child = start(sink_child)
    msg = b"\x07" * LARGE
    sent = 0
    t0 = time.perf_counter()
    while sent < max_messages:
        conn.send_bytes(msg)
        sent += 1
        if time.perf_counter() - t0 > max_seconds:
            break
    conn.send_bytes(b"")
    assert conn.recv_bytes() == b"ack"
    took = time.perf_counter() - t0
    child.join()
    print(f"w3_one_way_1MiB/python_multiprocessing: {sent * LARGE / took / 2**30:.4f} GiB/s "
          f"(one run, {sent:,} × 1 MiB in {took:.2f} s)")
    figure("w3_one_way_1MiB/python_multiprocessing", per_second=sent * LARGE / took,
           note=f"one run, {sent:,} × 1 MiB")


def main(argv):
    if not argv:
        w1(20000)
        w2(1000000)
        w3(1024, 10.0)
    elif argv[0] == "w1":
        w1(int(argv[1]))
    elif argv[0] == "w2":
        w2(int(argv[1]))
    elif argv[0] == "w3":
        w3(int(argv[1]), float(argv[2]))
    else:
        sys.exit(f"unknown workload {argv[0]!r}: w1, w2 or w3")


if __name__ == "__main__":
    main(sys.argv[1:])
