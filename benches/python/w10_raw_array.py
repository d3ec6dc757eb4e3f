"""W10 in Python: a child fills a 256 MiB RawArray, the parent reads it (sum).

Run: python3 benches/python/w10_raw_array.py   (prints GB/s both ways)
With MULTIPROC_BENCH_FIGURES=1 each figure is also printed as an `@figure` line (figures.py);
MULTIPROC_BENCH_QUICK=1 changes nothing here (one pass each way is already short).
"""
import ctypes
import multiprocessing as mp
import time

from figures import figure

LEN = 256 << 20


def child(arr, out):
    start = time.monotonic()
    ctypes.memset(ctypes.addressof(arr), 7, LEN)
    out[0] = time.monotonic() - start


def main():
    ctx = mp.get_context("fork")
    arr = ctx.RawArray("B", LEN)
    out = ctx.RawArray("d", 1)
    p = ctx.Process(target=child, args=(arr, out))
    p.start()
    p.join()
    start = time.monotonic()
    # The fastest pure-Python read: the bytes as 8-byte words.
    total = sum(memoryview(arr).cast("B").cast("Q")) % (1 << 64)
    read = time.monotonic() - start
    assert total == int.from_bytes(b"\x07" * 8, "little") * (LEN // 8) % (1 << 64)
    print(f"w10 python RawArray: write in child {LEN / out[0] / 1e9:.2f} GB/s, "
          f"read-sum in parent {LEN / read / 1e9:.2f} GB/s")
    figure("w10_shared_array_256MiB/write/python_raw_array_in_child", per_second=LEN / out[0],
           note="one run, 256 MiB")
    figure("w10_shared_array_256MiB/read/python_raw_array_in_parent", per_second=LEN / read,
           note="one run, 256 MiB")


if __name__ == "__main__":
    main()
