"""What a viewer's pacer is told: the rate to pace to, and whether its link is clear.

The target is never under the rung being sent (the rung's rate is fixed; pacing slower would
only queue its packets; a move down is what helps), and over it only as far as the
receiver's REMB confirms: the estimate of an unknown link (850 kbit/s) paced 360p's keyframes
at 2.1 Mbit/s into weak LTE's 1 Mbit/s and its 12.5 kB queue, and the first reports said
"loss 31 %". A clear link (relay.fanout.clear_link) is paced faster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from relay.fanout.clear_link import ClearLink
from relay.fanout.estimator import LinkEstimator

log = logging.getLogger(__name__)

CHANGE = 0.02  # a target this much off the last one reported is reported again


class PacerTarget:
    """Tells `tell(target_bps, clear)` when either changes (tell may be None: no pacer)."""

    def __init__(self, name: str, now: float, tell: Callable[[float, bool], None] | None) -> None:
        self.name = name
        self.tell = tell
        self.clear_link = ClearLink(now)
        self.reported = 0.0

    def update(
        self, now: float, estimator: LinkEstimator, bps: float, nominal: float, trouble: bool
    ) -> None:
        """`bps`: the link's estimate; `nominal`: the rung's bitrate; `trouble`: this tick
        saw loss or a growing queue."""
        remb = estimator.fresh_remb(now)
        target = max(min(bps, remb) if remb is not None else 0.0, nominal)
        mark = estimator.mark()
        was_clear = self.clear_link.clear
        clear = self.clear_link.update(now, None if mark is None else mark[1], trouble)
        if clear != was_clear:
            state = "clear: paced faster" if clear else "no longer clear"
            log.info("[viewer %s] link %s", self.name, state)
        moved = abs(target - self.reported) > CHANGE * self.reported
        if self.tell is not None and (moved or clear != was_clear):
            self.reported = target
            self.tell(target, clear)
