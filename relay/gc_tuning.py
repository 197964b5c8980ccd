"""The cyclic garbage collector, tuned for a live relay.

Measured with 50 viewers (scripts/bench_looplag.py, gc.callbacks timing each collection,
15 s phases): with CPython's defaults (thresholds 700, 10, 10) eleven collections took over
3 ms on the event loop's thread, two of them full (generation 2) ones of 77 and 132 ms that
walk every object the relay holds (aiortc's peers, PyAV, the imported modules); with the
settings below, one full collection of 86 ms and two young ones over 3 ms. Objects made
while starting (modules, the config, codecs, the app) live until the relay ends; frozen,
no collection walks them again. A larger first threshold makes the
young collections rarer, so the full ones, which come after ten of the middle ones, are
rarer too. Reference counting frees almost everything the hot path makes; the collector
is only for cycles (a closed peer's objects), which it still finds.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations net of frees before a young collection (default 700)
MIDDLE_THRESHOLD = 10  # young collections per middle one (the default)
OLD_THRESHOLD = 10  # middle collections per full one (the default)


def settle_after_start() -> None:
    """Once the relay serves: collect what start-up left, freeze the survivors and space
    the collections out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
