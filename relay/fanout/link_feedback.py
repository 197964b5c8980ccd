"""What a viewer's receiver reports, handed to its link estimator as RTCP arrives.

The transport fills it in (WebRTC: relay.webrtc.feedback); the ladder adapter
(relay.fanout.adapt) sets its estimator and its on_rtcp hook. A trace replay sets its own
clock (tests/fanout/test_estimator.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relay.fanout.estimator import LinkEstimator


@dataclass
class LinkFeedback:
    """What the viewer's receiver tells us; the transport calls the methods as RTCP comes."""

    remb: int | None = None
    rtt_s: float | None = None
    loss_reports: int = 0
    # The RTX stream's counts (extended highest sequence, cumulative lost), as reported:
    # a probe's padding goes there, so its losses are the probe's own verdict.
    rtx_counts: tuple[int, int] | None = None
    estimator: LinkEstimator | None = None  # set by the adapter
    on_rtcp: Callable[[], None] | None = None  # after each RTCP packet (the adapter's)
    clock: Callable[[], float] = field(default=time.monotonic)  # a trace replay sets its own

    def receiver_report(self, highest_seq: int, cumulative_lost: int) -> None:
        self.loss_reports += 1
        if self.estimator is not None:
            self.estimator.on_receiver_report(self.clock(), highest_seq, cumulative_lost)

    def rtx_report(self, highest_seq: int, cumulative_lost: int) -> None:
        self.rtx_counts = (highest_seq, cumulative_lost)

    def remb_report(self, bps: int) -> None:
        self.remb = bps
        if self.estimator is not None:
            self.estimator.on_remb(self.clock(), bps)

    def round_trip(self, rtt_s: float) -> None:
        if rtt_s != self.rtt_s and self.estimator is not None:
            self.estimator.on_rtt(self.clock(), rtt_s)
        self.rtt_s = rtt_s

    def other(self) -> None:
        if self.estimator is not None:
            self.estimator.on_other_rtcp(self.clock())

    def rtcp_done(self) -> None:
        if self.on_rtcp is not None:
            self.on_rtcp()
