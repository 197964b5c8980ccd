"""A probe for the rung above, from the adapter's side: what stood when it began, and the
verdict on it from what the receiver reported since.

The pacer sends the probe (padding up to a rate, relay.webrtc.pacer_probe); the adapter
(relay.fanout.adapt) starts one and, a moment after it ends, asks `failure` whether the link
carried it. docs/congestion-control.md explains the constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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
# (Chromium sends a report with every NACK: one RTT, <= 0.35 s on LTE); the next tick judges,
# once reports cover the last packets it sent on each stream, within PROBE_REPORT_WAIT_S
# more (Chromium's regular reports come every 0.5-1.5 s); with none by then it failed.
PROBE_REPORT_WAIT_S = 1.5
# A probe fails if the loss reported since it started is over this (at least PROBE_LOST
# packets), or over twice the loss the window saw before it (a link that loses 5 % anyway):
PROBE_LOSS = 0.04
PROBE_LOST = 2
# ... or if its padding (on the RTX stream, reported apart) lost this many and over this
# share (or twice the link's own loss): a 0.15 s probe into a link that cannot carry it
# loses mostly padding, the media's loss in the window stayed under PROBE_LOST, and weak
# LTE was moved up to 720p (bench_lte). A radio losing 0.5 % loses over 8 of a 720p probe's
# ~160 padding packets once in a thousand probes; the edge of a cell (5 %) more than 3 of
# a 360p probe's ~30 in one probe of 15, while one that overfills its
# 5 kB queue for 0.35 s loses ~8.
PROBE_PADDING_LOSS = 0.05
PROBE_PADDING_LOST = 4
# A link that has lost a packet is not probed until the loss window has counted this many:
# the probe asks for the rung above with the FEC its loss needs. The edge of a cell passed a
# probe for 360p made before its FEC was on, and 360p with its FEC then lost a third of its
# packets (a 1.6 s freeze). A link that has lost nothing yet is probed at once (good LTE's
# 720p share); asking for the most FEC instead (a third) padded good LTE to 2.9 Mbit/s, and
# the pacer then followed Chromium's REMB to where 720p's keyframes overran its queue.
PROBE_LOSS_KNOWN_PACKETS = 100
# A failed probe costs the video a burst of loss (weak LTE: 22-27 of 65-79 packets, a
# freeze): the rung it probed for waits longer before the next, doubling up to the max.
PROBE_BACKOFF_S = 30.0
PROBE_BACKOFF_MAX_S = 240.0


def probe_seconds(sent_bps: float, probe_bps: float) -> float:
    """How long a probe at `probe_bps` lasts for a viewer sent `sent_bps` now."""
    excess = max(probe_bps - sent_bps, 1.0)
    return min(PROBE_MAX_S, max(PROBE_MIN_S, PROBE_EXCESS_S * sent_bps / excess))


class SentProbe(Protocol):
    """What the pacer says of a probe it sent (relay.webrtc.pacer_probe.Probe)."""

    rtx_began: int  # the RTX stream's next sequence number when it began

    def covered(self, media_highest: int | None, rtx_highest: int | None) -> bool: ...


@dataclass
class ProbeWatch:
    """One viewer's probe under way (until is None: none)."""

    until: float | None = None  # when its verdict is due
    began: float = 0.0
    mark: tuple[int, int] | None = None  # the media's counts when it began
    loss_before: float = 0.0  # the window's loss when it began
    rtx: tuple[int, int] | None = None  # the RTX stream's counts when it began
    bps: float = 0.0  # the rate it padded up to
    sent: SentProbe | None = None  # the pacer's account of it (None: no coverage check)
    summary: str = ""  # what the verdict counted, for the log

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
        self.rtx, self.sent = feedback.rtx_counts, None

    def due(self, now: float, estimator: LinkEstimator, feedback: LinkFeedback) -> bool:
        """Whether its verdict is due: its reports came, or waiting for them is over."""
        if self.until is None or now < self.until:
            return False
        return now >= self.until + PROBE_REPORT_WAIT_S or self._reported(estimator, feedback)

    def _reported(self, estimator: LinkEstimator, feedback: LinkFeedback) -> bool:
        if self.sent is None:
            return True
        mark, rtx = estimator.mark(), feedback.rtx_counts
        return self.sent.covered(None if mark is None else mark[0], None if rtx is None else rtx[0])

    def failure(self, estimator: LinkEstimator, feedback: LinkFeedback) -> str | None:
        """Why the probe failed, or None if the link carried it (ends the probe)."""
        self.until = None
        if not self._reported(estimator, feedback):
            return "no report on it"
        lost, packets = estimator.loss_since(self.mark)
        limit = max(PROBE_LOSS, 2 * self.loss_before)
        self.summary = f"lost {lost} of {packets}"
        if lost >= PROBE_LOST and lost > limit * packets:
            return self.summary
        lost, packets = self._padding_loss(feedback)
        limit = max(PROBE_PADDING_LOSS, 2 * self.loss_before)
        self.summary += f", {lost} of {packets} padding"
        if lost >= PROBE_PADDING_LOST and lost > limit * packets:
            return self.summary
        return None

    def _padding_loss(self, feedback: LinkFeedback) -> tuple[int, int]:
        """(lost, packets) on the RTX stream since the probe began, as reported. Without a
        report from before it (no retransmission reported yet), counted from the probe's
        first RTX sequence number, and all the stream's losses are the probe's."""
        before, after = self.rtx, feedback.rtx_counts
        if after is None:
            return 0, 0
        if before is not None:
            base, lost_before = before
        elif self.sent is not None:
            base, lost_before = self.sent.rtx_began - 1, 0
        else:
            return 0, 0
        packets = (after[0] - base) & 0xFFFF
        if packets == 0 or packets >= 0x8000:
            return 0, 0
        return min(packets, max(0, after[1] - lost_before)), packets
