"""The cyclic garbage collector and the GIL's switch interval, tuned for a live relay.

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
import sys

YOUNG_THRESHOLD = 10_000  # allocations net of frees before a young collection (default 700)
MIDDLE_THRESHOLD = 10  # young collections per middle one (the default)
OLD_THRESHOLD = 10  # middle collections per full one (the default)
# The event loop gives up the GIL on every sendto (thousands a second with 50 viewers); a
# thread busy in Python (the decoder's bookkeeping, a manifest written off the loop) then
# keeps it until the switch interval forces it back: 5 ms by default, paid again after
# each syscall. At 1 ms, one bench_looplag run's watch phase (50 viewers) had p99 15 ms
# against 21 ms for one at 5 ms; runs of one tree spread 15-29 ms, so that is a hint, not a
# measured gain.
SWITCH_INTERVAL_S = 0.001


def settle_after_start() -> None:
    """Once the relay serves: collect what start-up left, freeze the survivors, space the
    collections out and hand the GIL back to the event loop sooner."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
