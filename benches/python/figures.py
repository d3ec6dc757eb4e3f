"""What the scripts in this directory share: machine-readable figures and the quick mode.

MULTIPROC_BENCH_FIGURES=1: besides its own lines, a script prints one line per figure,
`@figure {json}`: the figure's id (criterion's `group/row` style) and either `ns` (nanoseconds
per operation) or `per_second` (items or bytes per second, as the workload counts), with an
optional spread (`low_ns`/`high_ns` or `low_per_second`/`high_per_second`, and `spread`
saying what it is) and a `note`. benches/src/python.rs (`run_script`) sets it when it records
figures for the report (`cargo run --release -p multiproc-benches --bin report`), and takes
these lines out of what it prints: a plain `cargo bench` prints what it always did.

MULTIPROC_BENCH_QUICK=1: the scripts cap their counts (`capped`), for the report's `--quick`
(CI): the same measurement over fewer messages, round trips or starts.
"""
import json
import os


def quick():
    """Whether the counts are to be capped (the report's --quick)."""
    return os.environ.get("MULTIPROC_BENCH_QUICK") == "1"


def capped(n, cap):
    """`n`, or at most `cap` in quick mode."""
    return min(n, cap) if quick() else n


def figure(figure_id, **fields):
    """Prints `@figure {json}` for the recorder, only when it asked for them."""
    if os.environ.get("MULTIPROC_BENCH_FIGURES") == "1":
        print("@figure " + json.dumps(dict(id=figure_id, **fields)), flush=True)
