"""Viewers that adapt: move a viewer along its stream's ladder from what its link carries.

Each automatic viewer has one small task that looks, twice a second, at its link's rate
estimate (relay.fanout.estimator: REMB, loss over a window of packets, RTT growth) and at
its own queue drops. A growing queue or sustained loss moves it down to the rung the
estimate fits; a clean link moves it up one rung as soon as the estimate allows: at once if
REMB says so, else after a probe (padding at the next rung's rate and its FEC) or, without a
prober, a trial that falls back as soon as delay or loss rise. A rung that failed waits,
longer each time. A silence in the feedback is an outage: nothing moves, and when it ends a
keyframe goes out at once. docs/congestion-control.md explains the algorithm and constants.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from relay.fanout.estimator import LinkEstimator, Reading, Signal
from relay.fanout.feed import ViewerFeed
from relay.fanout.link_feedback import LinkFeedback
from relay.fanout.pacer_target import PacerTarget
from relay.fanout.probe_verdict import (
    PROBE_BACKOFF_MAX_S,
    PROBE_BACKOFF_S,
    PROBE_FACTOR,
    PROBE_LOSS_KNOWN_PACKETS,
    ProbeWatch,
    SentProbe,
    probe_seconds,
)
from relay.fanout.rendition import Rendition
from relay.fanout.start import (
    DEFAULT_BPS,
    FAR_RTT_S,
    NEAR_HANDSHAKE_S,
    SLOW_HANDSHAKE_S,
    EstimateMemory,
)

__all__ = ["LadderAdapter", "LinkFeedback"]

log = logging.getLogger(__name__)

TICK_S = 0.5  # twice a second (windows and growth are in packets and seconds, not ticks)
SETTLE_S = 1.0  # after a move, feedback about the old rung is ignored this long, and
# after a move down this long: the higher rung's packets keep flowing until the lower one's
# keyframe (bench_lte, loaded machine: a failed 720p trial's loss was still reported 1 s
# after the fall back and moved the viewer on down to 240p)
SETTLE_DOWN_S = 2.0
REMB_GRACE_S = 3.0  # after a join, a move or an outage, REMB's verdicts wait this long
# A clean link this long (since the last move or trouble) may move up: one tick, so that an
# unknown link on 360p probes at its first clean tick (good LTE must be on 720p 90 % of a run).
UP_CLEAN_S = 0.5
REMB_HEADROOM = 1.1  # REMB this much over the next rung's bitrate: up without a probe
WATCH_S = 4.0  # a move up falls back at once if delay or loss rise within this long
BACKOFF_S, BACKOFF_MAX_S = 8.0, 64.0  # a rung that failed waits this long, doubling to max
_TROUBLE = (Signal.LOSS, Signal.DELAY)


class LadderAdapter:
    """Moves one viewer's feed along its stream's ladder (sorted high to low bitrate).

    `on_estimate` gets the pacer's target and whether the link is clear
    (relay.fanout.pacer_target), `probe(bps, seconds)`
    asks the pacer to send at bps for a while; both optional. With `memory`, the estimate is
    remembered under `memory_key` for the viewer's next start (relay.fanout.start)."""

    def __init__(
        self,
        feed: ViewerFeed,
        ladder: Sequence[Rendition],
        feedback: LinkFeedback,
        bitrate_of: Callable[[Rendition], float],
        start_bps: float | None = None,
        on_estimate: Callable[[float, bool], None] | None = None,
        probe: Callable[[float, float], SentProbe | None] | None = None,
        protect: Callable[[float], float] | None = None,
        memory: EstimateMemory | None = None,
        memory_key: str = "",
    ) -> None:
        self.feed = feed
        self.ladder = list(ladder)
        self.feedback = feedback
        self.bitrate_of = bitrate_of
        self.probe, self.protect, self.fec_share = probe, protect, 0.0
        self.memory, self.memory_key = memory, memory_key
        now = feedback.clock()
        self._estimate_from(start_bps or DEFAULT_BPS, now)
        self.known = start_bps is not None  # the client's last estimate, remembered
        self.moved_at = self.clean_since = self.quiet_since = now
        self.pacer_target = PacerTarget(feed.name, now, on_estimate)
        self.moves_down = self.moves_up = self.fallbacks = self.resumes = 0
        self.last: Reading | None = None
        self._dropped = 0
        self._watch: tuple[int, float] | None = None  # (rung to fall back to, until)
        self._probe = ProbeWatch()
        self._settle_s = SETTLE_S
        self._far = False  # started on the lowest rung for a slow handshake, RTT unknown yet
        self._failures: dict[int, int] = {}
        self._retry_at: dict[int, float] = {}

    def _estimate_from(self, bps: float, now: float) -> None:  # fed by the receiver's reports
        self.estimator = LinkEstimator(bps, now)
        self.feedback.estimator = self.estimator

    def _index(self) -> int:
        target = self.feed.pending.rendition if self.feed.pending else self.feed.rendition
        return self.ladder.index(target)

    def _fit(self, bps: float) -> int:
        """The highest rung whose bitrate fits bps (the lowest if none does)."""
        fits = (i for i, r in enumerate(self.ladder) if self.bitrate_of(r) <= bps)
        return next(fits, len(self.ladder) - 1)

    def _sent_bps(self, rung: Rendition) -> float:
        """What the viewer is sent now: the rung's measured rate, its target until known."""
        measured = rung.rate.per_second()[1] if not rung.passthrough else 0.0
        return measured if measured > 0 else self.bitrate_of(rung)

    def tick(self, now: float | None = None) -> None:
        """One decision from the feedback gathered since the last tick."""
        now = self.feedback.clock() if now is None else now
        dropped = self.feed.dropped - self._dropped
        self._dropped = self.feed.dropped
        index = self._index()
        rung = self.ladder[index]
        nominal = self.bitrate_of(rung)
        if now - self.moved_at < self._settle_s:
            # The feedback still tells of the old rung (it flows until the new one's
            # keyframe, through the pacer's and the link's queues): not counted later
            # either. Kept, a failed trial's loss moved the viewer down twice in 1 s.
            self.estimator.settling()
            return
        if self._far and self.feedback.rtt_s is not None:
            self._far_or_not(self.feedback.rtt_s)
        use_remb = now - max(self.moved_at, self.quiet_since) >= REMB_GRACE_S
        if self._probe.due(now, self.estimator, self.feedback):
            # The probe's verdict comes first: the loss it caused is its own, not the rung's.
            if self._judge_probe(now, index, nominal):
                return
        reading = self.estimator.tick(now, self._sent_bps(rung), use_remb)
        if reading.signal is Signal.SILENT:
            return  # an outage: hold the rung and the estimate (resume() acts when it ends)
        if dropped > 0:
            reading = self.estimator.congested(now, nominal, f"{dropped} packets dropped")
        self.last = reading
        self._report(reading.estimate_bps, nominal, now, reading.signal in _TROUBLE)
        if reading.signal in _TROUBLE:
            self._trouble(now, index, reading)
            return
        if reading.signal is Signal.NORMAL:
            self.clean_since = now
            return
        if self._watch is not None and now >= self._watch[1]:
            self._watch = None  # the move up held: the link carries this rung
            self.estimator.carried(nominal)
            self._failures.pop(index, None)
        if index > 0 and now - self.clean_since >= UP_CLEAN_S and self._watch is None:
            self._try_up(now, index)

    def _far_or_near(self, now: float, handshake_s: float) -> None:
        """What the handshake's length says of the link (docs/congestion-control.md)."""
        lowest = len(self.ladder) - 1
        if handshake_s >= SLOW_HANDSHAKE_S and not self.known and self._index() < lowest:
            self._estimate_from(self.bitrate_of(self.ladder[lowest]), now)
            self._move(lowest, f"slow link: connected {handshake_s:.1f} s after the answer", now)
            self._far = True
        elif handshake_s < NEAR_HANDSHAKE_S:
            self.pacer_target.clear_link.start_clear(now)
            ms = handshake_s * 1000
            log.info("[viewer %s] near: connected %.0f ms after the answer", self.feed.name, ms)

    def _far_or_not(self, rtt_s: float) -> None:
        """The first round trip after a slow handshake: a near link (the handshake lost a
        packet) is an unknown one again, and climbs from the lowest rung at once."""
        self._far = False
        if rtt_s < FAR_RTT_S:
            self.estimator.carried(DEFAULT_BPS)
            log.info("[viewer %s] not far: RTT %.0f ms", self.feed.name, rtt_s * 1000)

    def _judge_probe(self, now: float, index: int, nominal: float) -> bool:
        """The probe for the rung above is over: up if the link took it without loss;
        else back off that rung, keep this one (its padding caused the loss, not the
        rung) and forget the loss it caused. True if it moved or failed."""
        why = self._probe.failure(self.estimator, self.feedback)
        if why is not None:
            self._probe_failed(now, index, nominal, why)
            return True
        need = self.bitrate_of(self.ladder[index - 1])
        self.estimator.carried(need)  # so an outage right after the move resumes up there
        why = f"probe at {self._probe.bps / 1000:.0f} kbit/s: {self._probe.summary}"
        self._up(now, index, index - 1, why)
        return True

    def _probe_failed(self, now: float, index: int, nominal: float, why: str) -> None:
        # Its queue drains and its repairs go out for a while after: settle as after a move.
        self._probe.until, self._settle_s = None, SETTLE_DOWN_S
        self.moved_at = self.clean_since = now
        self._back_off(now, index - 1, PROBE_BACKOFF_S, PROBE_BACKOFF_MAX_S)
        self.estimator.forget_probe(self._probe.began)
        self.estimator.carried(nominal)  # the rung held before the probe: it still does
        log.info("[viewer %s] probe failed (%s)", self.feed.name, why)

    def _trouble(self, now: float, index: int, reading: Reading) -> None:
        self.clean_since = now
        if self._probe.until is not None:
            # Trouble while probing is the probe's doing: not a reason to move down.
            self._probe_failed(now, index, self.bitrate_of(self.ladder[index]), reading.why)
            return
        if self._watch is not None:
            back = self._watch[0]
            self._watch = None
            self._back_off(now, index)
            self.estimator.carried(self.bitrate_of(self.ladder[back]))
            self.fallbacks += 1
            self._move(back, f"fell back: {reading.why}", now)
            return
        target = max(self._fit(reading.estimate_bps), index + 1)
        if target < len(self.ladder):
            self.moves_down += 1
            self._back_off(now, index)  # the rung it leaves failed, as a failed trial does
            why = f"{reading.why}, estimate {reading.estimate_bps / 1000:.0f} kbit/s"
            self._move(target, why, now)

    def _try_up(self, now: float, index: int) -> None:
        higher = index - 1
        # With its FEC: the edge of a cell (5 % loss: +33 %) passed a probe at 1.1 x 360p's
        # 500 kbit/s, and 360p with FEC then lost a third of its packets.
        need = self.bitrate_of(self.ladder[higher]) * (1 + self.fec_share)
        if now < self._retry_at.get(higher, 0.0):
            return
        remb = self.estimator.fresh_remb(now)
        if remb is not None and remb >= need * REMB_HEADROOM:
            self._up(now, index, higher, f"REMB {remb / 1000:.0f} kbit/s")
        elif self.estimator.estimate_bps >= need * REMB_HEADROOM:
            self._up(now, index, higher, f"estimate {self.estimator.estimate_bps / 1000:.0f}")
        elif self.probe is None:
            self._up(now, index, higher, "trial: clean link")
        elif self._probe.until is None and self._loss_known(now):
            bps = need * PROBE_FACTOR
            seconds = probe_seconds(self._sent_bps(self.ladder[index]), bps)
            self._probe.begin(now, seconds, bps, self.estimator, self.feedback)
            self._probe.sent = self.probe(bps, seconds)

    def _loss_known(self, now: float) -> bool:
        """Whether the link's loss (and so the FEC a probe must include) is known: a link
        that lost nothing yet, or enough packets counted (PROBE_LOSS_KNOWN_PACKETS)."""
        loss, packets = self.estimator.loss(now)
        return loss == 0.0 or packets >= PROBE_LOSS_KNOWN_PACKETS

    def _up(self, now: float, index: int, higher: int, why: str) -> None:
        self.moves_up += 1
        self._watch = (index, now + WATCH_S)
        self._move(higher, why, now)

    def _back_off(
        self, now: float, index: int, first_s: float = BACKOFF_S, max_s: float = BACKOFF_MAX_S
    ) -> None:
        failures = self._failures.get(index, 0) + 1
        self._failures[index] = failures
        wait = min(max_s, first_s * 2 ** (failures - 1))
        self._retry_at[index] = now + wait
        name = self.ladder[index].name
        log.info("[viewer %s] %s not tried again for %.0f s", self.feed.name, name, wait)

    @property
    def trying(self) -> bool:
        """A move up is on trial, or a probe for one is under way."""
        return self._watch is not None or self._probe.until is not None

    def _report(self, bps: float, nominal: float, now: float, trouble: bool = False) -> None:
        if self.memory is not None and self.memory_key:
            # The rung held cleanly is what the link carries, even while REMB still climbs.
            held = nominal if not self.trying and self.feed.pending is None else 0.0
            self.memory.remember(self.memory_key, max(bps, held))
        if self.protect is not None:  # FEC as strong as the loss needs, on top of the media
            self.fec_share = self.protect(self.estimator.loss(now)[0])
        self.pacer_target.update(now, self.estimator, bps, nominal, trouble)

    def resume(self, now: float | None = None) -> None:
        """The feedback is back after an outage: a keyframe at once, on the rung the link
        carries (the estimate from before the outage), and REMB's verdicts wait a while."""
        now = self.feedback.clock() if now is None else now
        self.resumes += 1
        self.quiet_since = self.clean_since = now
        self._watch = self._probe.until = None
        index = self._index()
        target = max(index, self._fit(self.estimator.estimate_bps))
        if target != index:
            self._move(target, "link back after an outage", now)
        # Even when it stays (or a move just went back to the rung it is on): what was
        # sent during the outage is lost, and waiting for the viewer's PLI costs a round trip.
        self.ladder[target].request_keyframe()
        log.info("[viewer %s] link back after an outage: keyframe", self.feed.name)

    def _on_rtcp(self) -> None:
        now = self.feedback.clock()
        if self.estimator.resumed():
            self.resume(now)

    def _move(self, index: int, why: str, now: float) -> None:
        self._settle_s = SETTLE_DOWN_S if index > self._index() else SETTLE_S
        rendition = self.ladder[index]
        log.info("[viewer %s] -> %s (%s)", self.feed.name, rendition.name, why)
        self.feed.switch_to(rendition)
        self.estimator.forget_window()
        self.moved_at = self.clean_since = now
        # The pacer's rate follows at once: the ticks while settling report nothing, and
        # 720p paced for a second at 360p's rate queued 50 kB that then overran good LTE.
        self._report(self.estimator.estimate_bps, self.bitrate_of(rendition), now)

    async def run(self, handshake_s: float | None = None) -> None:
        """Ticks until the feed ends; started once the peer connects: what happened
        before (a queue that filled while ICE and DTLS were under way) is no verdict on
        the link."""
        self._dropped = self.feed.dropped
        self.start(self.feedback.clock(), handshake_s)
        while self.feed.live:
            await asyncio.sleep(TICK_S)
            self.tick()

    def start(self, now: float, handshake_s: float | None = None) -> None:
        """The peer is connected, ICE and DTLS `handshake_s` after the answer (None: not
        measured): feedback describes the link from now on. An unknown link that slow is a
        far one: it starts on the lowest rung; one that quick is near and starts clear
        (docs/congestion-control.md, where a viewer starts)."""
        if handshake_s is not None:
            self._far_or_near(now, handshake_s)
        self.clean_since = self.quiet_since = now
        # No old rung to settle from: the first tick, a second in, judges the link.
        self.moved_at = now - SETTLE_S
        self.estimator.last_report_at = now
        self.feedback.on_rtcp = self._on_rtcp
        self._report(self.estimator.estimate_bps, self.bitrate_of(self.ladder[self._index()]), now)
