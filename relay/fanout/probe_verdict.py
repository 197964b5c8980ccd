"""A probe for the rung above, from the adapter's side: what stood when it began, and the
verdict on it from what the receiver reported since.

The pacer sends the probe (padding up to a rate, relay.webrtc.pacer_probe); the adapter
(relay.fanout.adapt) starts one and, a moment after it ends, asks `failure` whether the link
carried it. docs/congestion-control.md explains the constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay.fanout.estimator import LinkEstimator
from relay.fanout.link_feedback import LinkFeedback

PROBE_FACTOR = 1.1  # a probe asks the pacer for the next rung's bitrate times this ...
# ... for long enough that its excess over what is sent now adds up to PROBE_EXCESS_S of
# that rate (it then overfills a link's 100 ms queue 5x over if the link carries no more
# than what is sent now), within PROBE_MIN_S..PROBE_MAX_S: 360p -> 720p 0.15 s (a 0.5 s
# probe into weak LTE lost a third of the media in its window), 240p -> 360p 0.3-0.5 s (at
# 0.15 s, and at 0.16 s for 360p with FEC at 642 kbit/s, a probe passed on the edge of a
# cell's 400 kbit/s: its excess fitted the 5 kB queue; the move up fell back a second on);
PROBE_EXCESS_S = 0.5
PROBE_MIN_S, PROBE_MAX_S = 0.15, 0.5
PROBE_VERDICT_S = 0.4  # and the receiver's reports on it arrive within this long after
# (Chromium sends a report with every NACK: one RTT, <= 0.35 s on LTE); the next tick judges.
# A probe fails if the loss reported since it started is over this (at least PROBE_LOST
# packets), or over twice the loss the window saw before it (a link that loses 5 % anyway):
PROBE_LOSS = 0.04
PROBE_LOST = 2
# ... or if its padding (on the RTX stream, reported apart) lost this many and this share:
# a 0.15 s probe into a link that cannot carry it loses mostly padding, the media's loss in
# the window stayed under PROBE_LOST, and weak LTE was moved up to 720p (bench_lte). A radio
# losing 0.5 % loses 5 of a probe's ~160 padding packets once in a thousand probes.
PROBE_PADDING_LOSS = 0.05
PROBE_PADDING_LOST = 5
# A failed probe costs the video a burst of loss (weak LTE: 22-27 of 65-79 packets, a
# freeze): the rung it probed for waits longer before the next, doubling up to the max.
PROBE_BACKOFF_S = 30.0
PROBE_BACKOFF_MAX_S = 240.0


def probe_seconds(sent_bps: float, probe_bps: float) -> float:
    """How long a probe at `probe_bps` lasts for a viewer sent `sent_bps` now."""
    excess = max(probe_bps - sent_bps, 1.0)
    return min(PROBE_MAX_S, max(PROBE_MIN_S, PROBE_EXCESS_S * sent_bps / excess))


@dataclass
class ProbeWatch:
    """One viewer's probe under way (until is None: none)."""

    until: float | None = None  # when its verdict is due
    began: float = 0.0
    mark: tuple[int, int] | None = None  # the media's counts when it began
    loss_before: float = 0.0  # the window's loss when it began
    rtx: tuple[int, int] | None = None  # the RTX stream's counts when it began
    bps: float = 0.0  # the rate it padded up to

    def begin(
        self,
        now: float,
        seconds: float,
        bps: float,
        estimator: LinkEstimator,
        feedback: LinkFeedback,
    ) -> None:
        self.until, self.began, self.bps = now + seconds + PROBE_VERDICT_S, now, bps
        self.mark, self.loss_before = estimator.mark(), estimator.loss(now)[0]
        self.rtx = feedback.rtx_counts

    def failure(self, estimator: LinkEstimator, feedback: LinkFeedback) -> str | None:
        """Why the probe failed, or None if the link carried it (ends the probe)."""
        self.until = None
        lost, packets = estimator.loss_since(self.mark)
        limit = max(PROBE_LOSS, 2 * self.loss_before)
        if lost >= PROBE_LOST and lost > limit * packets:
            return f"lost {lost} of {packets}"
        lost, packets = self._padding_loss(feedback)
        if lost >= PROBE_PADDING_LOST and lost > PROBE_PADDING_LOSS * packets:
            return f"lost {lost} of {packets} padding packets"
        return None

    def _padding_loss(self, feedback: LinkFeedback) -> tuple[int, int]:
        """(lost, packets) on the RTX stream since the probe began, as reported (none
        before its first report: a probe is then judged on the media alone)."""
        before, after = self.rtx, feedback.rtx_counts
        if before is None or after is None or after[0] <= before[0]:
            return 0, 0
        packets = after[0] - before[0]
        return min(packets, max(0, after[1] - before[1])), packets
