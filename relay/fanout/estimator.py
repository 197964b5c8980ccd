"""What one viewer's link carries: a rate estimate from its receiver's feedback.

Transport-neutral and clocked by the caller (`now`, monotonic s): feedback traces replay
exactly. docs/congestion-control.md explains the algorithm, its signals and constants:

- loss is counted over a window of packets (cumulative lost and highest sequence deltas
  across receiver reports), never from one report's fraction lost: Chromium sends a report
  with every NACK, so one lost packet in a short interval reads as 8-25 %;
- a queue growing is seen before loss: the receiver's REMB (Chromium's delay-based
  estimate, computed from our abs-send-time) falling under what we send, or the round-trip
  time growing over its recent minimum;
- silence (no RTCP for about a second) is an outage, not congestion: the estimate holds,
  and the report spanning it is not counted as loss.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

LOSS_WINDOW_PACKETS = 100  # loss is judged over at least this many packets ...
LOSS_WINDOW_S = 6.0  # ... reported within this long (240p at 15 fps: ~25 packets/s)
LOSS_CONGESTED = 0.10  # sustained loss over the window above this: the link is full
LOSS_CLEAN = 0.02  # under this (NACK repairs it) the link may grow, ...
# ... once this many packets were reported (silence is not "clean"): half a second of 360p,
# so that the first tick after connecting can already probe (a probe has its own verdict)
CLEAN_PACKETS = 25
# Loss this heavy is a verdict over fewer packets: a link far too thin for the rung (360p
# into 400 kbit/s loses a third or more) would otherwise wait ~2 s for a full window.
LOSS_SEVERE = 0.30
LOSS_SEVERE_PACKETS = 30
LOSS_BACKOFF = 0.5  # on loss: estimate x (1 - LOSS_BACKOFF x loss), as GCC's loss controller
# Chromium lowers its REMB only when its detector sees the queue grow (to 0.85 x what it
# receives); it raises it slowly (~8 %/s, at most 1.5 x what it receives). So a REMB that
# is low is no verdict (it may still be climbing after a move up); one that FELL is.
REMB_FALL = 0.95  # REMB under this share of its recent maximum: it fell ...
REMB_OVERUSE = 0.9  # ... and under this share of what we send: Chromium saw its queue grow
REMB_FRESH_S = 3.0  # a REMB older than this says nothing about the link now
DELAY_BACKOFF = 0.85  # on a growing queue: estimate = this x what we send (GCC's beta)
RTT_BASE_S = 30.0  # the RTT baseline is the minimum over this long
RTT_GROWTH_MIN_S = 0.06  # RTT over baseline + max(this, RTT_GROWTH_SHARE x baseline) ...
RTT_GROWTH_SHARE = 0.5  # ... in every sample over RTT_SUSTAIN_S: the queue is growing,
RTT_SUSTAIN_S = 2.0  # (the samples within it and the one before it; two 1 s GOPs) ...
RTT_SAMPLES = 3  # ... at least this many. Not two samples in a row: Chromium reports with
# every NACK (several within 100 ms), aiortc times a report when its handler runs (an event
# loop busy for a moment on a loaded machine reads as growth), and a 720p keyframe fills
# good LTE's queue for ~60 ms every second (360p's, weak LTE's for ~150 ms: "RTT 253 ms
# over 164 ms" moved weak LTE to 240p); a queue that really grows stays up longer.
GROWTH_PER_S = 1.08  # a clean link lets the estimate grow this much per second ...
GROWTH_CAP = 1.5  # ... up to this times what it carries now (more needs a probe or a trial)
# Silence: no RTCP for max(SILENCE_S, SILENCE_GAPS x the receiver's median gap between
# RTCP packets). Chromium sends REMB every ~200 ms (silence after 1 s); a receiver that only
# sends a report every 0.5-1.5 s (aiortc) is silent after ~2.5 s.
SILENCE_S = 1.0
SILENCE_GAPS = 2.5
SILENCE_UNKNOWN_S = 1.6  # until GAPS_KNOWN gaps are seen (longer than any report interval)
GAPS_KNOWN = 5
GAPS_KEPT = 21
GAP_SAME_S = 0.01  # packets closer than this are one compound RTCP packet


class Signal(Enum):
    """What one look at the feedback says about the link."""

    CLEAN = "clean"  # no sign of a queue or loss: may move up
    NORMAL = "normal"  # some loss, nothing to act on: hold
    LOSS = "loss"  # sustained loss over the window
    DELAY = "delay"  # the queue grows (REMB under our rate, or RTT growing)
    SILENT = "silent"  # no RTCP: an outage, not congestion; hold everything


@dataclass
class Reading:
    """The estimator's view after one tick (for logs, status and the adapter)."""

    signal: Signal
    estimate_bps: float
    loss: float | None  # over the window; None while it holds too few packets
    why: str


class LinkEstimator:
    """Estimates one viewer's available rate from REMB, windowed loss and RTT."""

    def __init__(self, start_bps: float, now: float) -> None:
        # GCC's loss-based controller, lowered on delay too and raised by REMB.
        self.loss_bps = start_bps
        self.remb_bps: float | None = None
        self.remb_at = -1e9
        self._rembs: deque[tuple[float, float]] = deque()  # (at, bps) within REMB_FRESH_S
        self._cut_at = -1e9  # the last decrease: REMBs from before it raise nothing
        self.last_report_at = now  # connect time: no report yet is not silence yet
        self._highest: int | None = None
        self._lost = 0
        self._window: deque[tuple[float, int, int]] = deque()  # (at, expected, lost)
        self._rtts: deque[tuple[float, float]] = deque()
        self._gaps: deque[float] = deque(maxlen=GAPS_KEPT)
        self._heard = False  # the first RTCP after connecting ends no silence
        self._spans_outage = False  # the next receiver report covers an outage or a move
        self.verdicts = {signal: 0 for signal in Signal}  # ticks per verdict, for status
        self._silent_since: float | None = None
        self._last_tick = now

    # Feedback in (the transport calls these as RTCP arrives).

    def on_receiver_report(self, now: float, highest_seq: int, cumulative_lost: int) -> None:
        """A receiver report block for our stream: extended highest sequence number and
        cumulative packets lost (RFC 3550 6.4.1)."""
        self._note_rtcp(now)
        # The first report after a silence (whatever RTCP came first: a NACK, a REMB)
        # covers the outage: those packets were lost to it, not to congestion. The first
        # after a move is mostly about the old rung.
        spans_outage, self._spans_outage = self._spans_outage, False
        if self._highest is not None and highest_seq >= self._highest:
            expected = highest_seq - self._highest
            lost = max(0, cumulative_lost - self._lost)
            if expected > 0 and not spans_outage:
                self._window.append((now, expected, min(lost, expected)))
        self._highest, self._lost = highest_seq, cumulative_lost

    def on_remb(self, now: float, bps: float) -> None:
        self._note_rtcp(now)
        self.remb_bps, self.remb_at = bps, now
        self._rembs.append((now, bps))
        while now - self._rembs[0][0] > REMB_FRESH_S:
            self._rembs.popleft()

    def on_rtt(self, now: float, rtt_s: float) -> None:
        self._rtts.append((now, rtt_s))
        while self._rtts and now - self._rtts[0][0] > RTT_BASE_S:
            self._rtts.popleft()

    def on_other_rtcp(self, now: float) -> None:
        """Any other RTCP from the viewer (NACK, PLI): the link is up."""
        self._note_rtcp(now)

    def silence_s(self) -> float:
        """How long without RTCP is an outage, for this receiver's report rhythm."""
        if len(self._gaps) < GAPS_KNOWN:
            return SILENCE_UNKNOWN_S
        return max(SILENCE_S, SILENCE_GAPS * sorted(self._gaps)[len(self._gaps) // 2])

    def _note_rtcp(self, now: float) -> bool:
        """Notes an RTCP packet's arrival; True if it ends a silence."""
        gap = now - self.last_report_at
        silent = self._heard and gap >= self.silence_s()
        self._heard = True
        if silent:
            self._silent_since = self.last_report_at
            self._spans_outage = True
        elif gap >= GAP_SAME_S and self._highest is not None:
            self._gaps.append(gap)
        self.last_report_at = now
        return silent

    def resumed(self) -> bool:
        """True once after RTCP came back from a silence: the caller asks for a keyframe
        at once (what was sent meanwhile is lost), on the rung the link carries."""
        if self._silent_since is None:
            return False
        self._silent_since = None
        self._window.clear()  # what was counted before the outage is stale now
        return True

    # Looking at it (once a tick).

    def loss(self, now: float, min_packets: int = LOSS_WINDOW_PACKETS) -> tuple[float, int]:
        """(loss ratio, packets) over the newest reports that add up to min_packets,
        within LOSS_WINDOW_S (fewer packets when fewer were reported; 0.0 for none)."""
        while self._window and now - self._window[0][0] > LOSS_WINDOW_S:
            self._window.popleft()
        expected = lost = 0
        for _, e, lo in reversed(self._window):
            expected, lost = expected + e, lost + lo
            if expected >= min_packets:
                break
        return (lost / expected if expected else 0.0), expected

    @property
    def estimate_bps(self) -> float:
        """What the link carries. REMB raises it (when higher) and its falls lower it, but
        a REMB that is merely low is no cap: Chromium's climbed from 395 to 883 kbit/s in
        20 s while it received 2 Mbit/s cleanly (tests/fanout/traces/)."""
        return self.loss_bps

    def fresh_remb(self, now: float) -> float | None:
        """The receiver's latest REMB if it is recent enough to describe the link now."""
        return self.remb_bps if now - self.remb_at <= REMB_FRESH_S else None

    def queue_growing(self, now: float, sent_bps: float) -> str:
        """Why the link's queue looks to be growing ("" when it does not)."""
        remb = self.fresh_remb(now)
        if remb is not None and sent_bps > 0:
            recent = max(bps for _, bps in self._rembs)
            if remb < recent * REMB_FALL and remb < sent_bps * REMB_OVERUSE:
                return (
                    f"REMB fell to {remb / 1000:.0f} from {recent / 1000:.0f} kbit/s "
                    f"(sent {sent_bps / 1000:.0f})"
                )
        rtts = self._sustained_rtts(now)
        if rtts:
            base = min(r for _, r in self._rtts)
            now_rtt = min(rtts)
            if now_rtt - base > max(RTT_GROWTH_MIN_S, RTT_GROWTH_SHARE * base):
                return f"RTT {now_rtt * 1000:.0f} ms over {base * 1000:.0f} ms"
        return ""

    def _sustained_rtts(self, now: float) -> list[float]:
        """The RTT samples of the last RTT_SUSTAIN_S and the one before them (so that they
        span it), if there are RTT_SAMPLES and an older baseline; else none."""
        rtts = self._rtts
        count = sum(1 for at, _ in rtts if now - at <= RTT_SUSTAIN_S) + 1
        if count < RTT_SAMPLES or count >= len(rtts):
            return []
        return [rtts[-i][1] for i in range(1, count + 1)]

    def tick(self, now: float, sent_bps: float, use_remb: bool = True) -> Reading:
        """One look at the feedback gathered so far; `sent_bps` is what the viewer is sent
        now (its rung's rate). `use_remb` False ignores REMB's verdict (just after a join,
        a move or an outage, Chromium's estimate starts from a short throughput sample)."""
        reading = self._judge(now, sent_bps, use_remb)
        self.verdicts[reading.signal] += 1
        return reading

    def _judge(self, now: float, sent_bps: float, use_remb: bool) -> Reading:
        elapsed, self._last_tick = now - self._last_tick, now
        if now - self.last_report_at >= self.silence_s():
            return Reading(Signal.SILENT, self.estimate_bps, None, "no RTCP")
        loss, packets = self.loss(now)
        severe = packets >= LOSS_SEVERE_PACKETS and loss > LOSS_SEVERE
        if (packets >= LOSS_WINDOW_PACKETS and loss > LOSS_CONGESTED) or severe:
            self.loss_bps = min(self.loss_bps, sent_bps) * (1 - LOSS_BACKOFF * loss)
            self._cut_at = now
            self._window.clear()  # acted on: the next verdict needs a fresh window
            return Reading(Signal.LOSS, self.estimate_bps, loss, f"loss {loss:.0%} of {packets}")
        growing = self.queue_growing(now, sent_bps if use_remb else 0.0)
        if growing:
            self.loss_bps = min(self.loss_bps, sent_bps * DELAY_BACKOFF)
            self._cut_at = now
            return Reading(Signal.DELAY, self.estimate_bps, loss, growing)
        if loss > LOSS_CLEAN or packets < CLEAN_PACKETS:
            why = f"loss {loss:.0%} of {packets}"
            return Reading(Signal.NORMAL, self.estimate_bps, loss, why)
        cap = max(self.loss_bps, sent_bps * GROWTH_CAP)
        grown = min(self.loss_bps * GROWTH_PER_S ** min(elapsed, 2.0), cap)
        remb = self.fresh_remb(now)
        if remb is not None and self.remb_at > self._cut_at:
            grown = max(grown, remb)
        self.loss_bps = grown
        return Reading(Signal.CLEAN, self.estimate_bps, loss, "clean")

    def congested(self, now: float, bps: float, why: str) -> Reading:
        """The sender saw the link fall behind (its queue to the viewer overflowed)."""
        self.loss_bps = min(self.loss_bps, bps * DELAY_BACKOFF)
        self._cut_at = now
        return Reading(Signal.DELAY, self.estimate_bps, None, why)

    def carried(self, bps: float) -> None:
        """The link was seen to carry `bps` (a rung held cleanly after a probe or trial)."""
        self.loss_bps = max(self.loss_bps, bps)

    def mark(self) -> tuple[int, int] | None:
        """Where the receiver's counts stand now (extended highest sequence, cumulative
        lost), for loss_since: a probe's verdict is on the reports that came after it."""
        return None if self._highest is None else (self._highest, self._lost)

    def loss_since(self, mark: tuple[int, int] | None) -> tuple[int, int]:
        """(lost, packets) reported since `mark`; (0, 0) if no report came since."""
        if mark is None or self._highest is None or self._highest < mark[0]:
            return 0, 0
        packets = self._highest - mark[0]
        return min(packets, max(0, self._lost - mark[1])), packets

    def forget_probe(self, since: float) -> None:
        """A probe (started at `since`) failed: its padding filled the link's queue, and
        the losses and round trips it caused are not the rung's (the loss window starts
        afresh; RTT samples since it began are dropped, the baseline kept)."""
        self._window.clear()
        while len(self._rtts) > 1 and self._rtts[-1][0] >= since:
            self._rtts.pop()

    def settling(self) -> None:
        """Just after a move: the loss and round trips reported meanwhile are the old
        rung's. The loss window starts afresh; of the RTT samples only the baseline stays
        (a queue the old rung built drains over the next second: no verdict on the new)."""
        self._window.clear()
        if self._rtts:
            base = min(self._rtts, key=lambda sample: sample[1])
            self._rtts.clear()
            self._rtts.append(base)

    def forget_window(self) -> None:
        """After a move: the loss and REMB seen so far were about the old rung, and so is
        most of the next receiver report (the old rung flows until the new one's keyframe)."""
        self._window.clear()
        self._spans_outage = True
        self._rembs.clear()
        if self.remb_bps is not None:
            self._rembs.append((self.remb_at, self.remb_bps))
