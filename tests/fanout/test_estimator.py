"""Congestion control replayed on feedback traces: the receiver's reports (RR blocks, REMB,
RTT) fed to a real LadderAdapter through its LinkFeedback on a trace clock, the adapter
ticking once a second (live: twice; its rules are in seconds and packets, not ticks). Not
timed: the trace's clock is the test's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from relay.fanout.adapt import LadderAdapter, LinkFeedback
from relay.fanout.estimator import LinkEstimator, Signal
from relay.fanout.feed import ViewerFeed
from relay.fanout.probe_verdict import (
    PROBE_FACTOR,
    PROBE_LOSS_KNOWN_PACKETS,
    PROBE_REPORT_WAIT_S,
    probe_seconds,
)
from relay.fanout.rendition import Rendition
from relay.fanout.start import NEAR_HANDSHAKE_S, EstimateMemory, start_rung
from relay.webrtc.pacer_probe import Probe

TRACES = Path(__file__).parent / "traces"


def ladder() -> list[Rendition]:
    return [
        Rendition("s", "720p", 2_000_000),
        Rendition("s", "360p", 500_000),
        Rendition("s", "240p", 250_000),
    ]


class Trace:
    """A viewer's link replayed: packets sent per second by rung, lost as the test says,
    reported like Chromium (an RR about every second and one with every NACK)."""

    def __init__(
        self,
        start: str = "720p",
        probe: bool = False,
        start_bps: float | None = 3e6,
        handshake_s: float | None = None,
    ) -> None:
        self.reported: list[tuple[float, bool]] = []  # the pacer's (target, clear) calls
        self.t = 100.0
        self.rungs = ladder()
        self.feedback = LinkFeedback(clock=lambda: self.t)
        rung = next(r for r in self.rungs if r.name == start)
        self.feed = ViewerFeed(rung, "test")
        self.probes: list[tuple[float, float]] = []
        prober: Callable[[float, float], None] | None = None
        if probe:
            prober = lambda bps, s: self.probes.append((bps, s))  # noqa: E731
        self.adapter = LadderAdapter(
            self.feed,
            self.rungs,
            self.feedback,
            lambda r: r.bitrate,
            start_bps,
            on_estimate=lambda bps, clear: self.reported.append((bps, clear)),
            probe=prober,
        )
        self.adapter.start(self.t, handshake_s)
        self.highest, self.lost = 1000, 0
        self.rtt = 0.05
        self.remb: float | None = None
        self.timeline: list[tuple[float, str]] = []

    @property
    def rung(self) -> str:
        """The rung the viewer is on, or moving to."""
        feed = self.feed
        return (feed.pending or feed.subscriber).rendition.name

    def report(self, packets: int, lost: int) -> None:
        """One receiver report block covering `packets` more packets, `lost` of them lost."""
        self.highest += packets
        self.lost += lost
        self.feedback.receiver_report(self.highest, self.lost)
        self.feedback.round_trip(self.rtt)
        self.feedback.rtcp_done()

    def second(self, loss: float = 0.0, remb: float | None = None, nack_rr: int = 0) -> None:
        """One second of the link: the rung's packets (~1200 bytes each), `loss` of them lost,
        an RR and REMB at its end, `nack_rr` extra short reports with one loss each (a NACK)."""
        packets = int(self.feed_rung_bitrate() / 8 / 1200) - 8 * nack_rr
        self.t += 1.0 - 0.1 * nack_rr
        self.report(packets, round(packets * loss))
        for _ in range(nack_rr):  # just before the tick: the newest reports it sees
            self.t += 0.1
            self.report(8, 1)  # 1 of 8 packets: the report says 12 % lost
        remb = remb if remb is not None else self.remb
        if remb is not None:
            self.feedback.remb_report(int(remb))
            self.feedback.rtcp_done()
        self.adapter.tick(self.t)
        self.timeline.append((self.t, self.rung))

    def feed_rung_bitrate(self) -> float:
        return float(next(r for r in self.rungs if r.name == self.rung).bitrate)

    def keyframes(self) -> int:
        return sum(r.keyframe_requests for r in self.rungs)


def test_one_nack_with_12_percent_in_its_report_does_not_move_a_viewer_down() -> None:
    trace = Trace("720p")
    for _ in range(10):
        trace.second(remb=2.6e6)
    trace.second(nack_rr=1, remb=2.6e6)  # "fraction lost 12 %" in the NACK's report
    trace.second(nack_rr=2, remb=2.6e6)
    for _ in range(5):
        trace.second(remb=2.6e6)
    assert {rung for _, rung in trace.timeline} == {"720p"}
    assert trace.adapter.moves_down == 0


def test_sustained_loss_over_a_window_moves_down() -> None:
    trace = Trace("720p")
    for _ in range(3):
        trace.second(remb=2.6e6)
    trace.second(loss=0.15, remb=2.6e6)  # 15 % of ~200 packets
    assert trace.rung == "360p"
    assert trace.adapter.last is not None and trace.adapter.last.signal.value == "loss"


def test_loss_in_too_few_packets_is_no_clean_link() -> None:
    """A 360p viewer behind a policer a little under its rate: ~50 packets a second, 15 %
    lost. Too few packets for a loss verdict after one second, but no clean link either
    (which would let it try 720p); the next second's report makes the verdict."""
    estimator = LinkEstimator(600_000, now=0.0)
    estimator.on_receiver_report(0.5, 1000, 0)
    estimator.on_receiver_report(1.5, 1052, 8)
    assert estimator.tick(1.6, 500_000).signal is Signal.NORMAL
    estimator.on_receiver_report(2.5, 1104, 16)
    assert estimator.tick(2.6, 500_000).signal is Signal.LOSS


def test_severe_loss_is_a_verdict_after_one_second() -> None:
    """360p behind 300 kbit/s (the edge of a cell): 40 % of ~50 packets lost. Waiting for
    a full window of 100 packets froze the picture for 2 s; a third lost over 30 packets
    is no jitter: the viewer moves down at the first tick."""
    estimator = LinkEstimator(600_000, now=0.0)
    estimator.on_receiver_report(0.5, 1000, 0)
    estimator.on_receiver_report(1.5, 1052, 21)
    assert estimator.tick(1.6, 500_000).signal is Signal.LOSS


def test_loss_under_the_threshold_holds_the_rung() -> None:
    trace = Trace("720p")
    for _ in range(15):
        trace.second(loss=0.05, remb=2.6e6)  # NACK repairs 5 %: no reason to move
    assert trace.rung == "720p" and trace.adapter.moves_down == 0


def test_remb_falling_moves_down_before_any_loss() -> None:
    trace = Trace("720p")
    for _ in range(5):
        trace.second(remb=2.6e6)
    trace.second(remb=1.7e6)  # Chromium saw its queue grow: 0.85 x what it receives
    assert trace.rung == "360p"  # 0.85 x 2 Mbit/s fits 360p, not 720p
    assert trace.lost == 0


def test_rtt_growth_moves_down_before_any_loss() -> None:
    trace = Trace("720p")
    for _ in range(5):
        trace.second()  # no REMB at all (a receiver that sends none)
    trace.rtt = 0.16  # a queue of 110 ms builds up
    trace.second()
    assert trace.rung == "720p"  # one high RTT is jitter ...
    trace.rtt = 0.17
    trace.second()
    # ... and so are two: an event loop busy for a moment on a loaded machine delays the
    # handling of a report (aiortc times it then), and a keyframe fills the queue a while
    assert trace.rung == "720p"
    trace.rtt = 0.18
    trace.second()
    assert trace.rung == "720p"  # ... nor three within two seconds (1 s GOPs' keyframes)
    trace.rtt = 0.17
    trace.second()
    assert trace.rung == "360p"  # ... over two seconds: a queue
    assert trace.lost == 0


def test_a_low_remb_after_a_move_up_is_no_verdict() -> None:
    """Chromium's REMB climbs ~8 %/s after the rate it receives went up: low, not falling."""
    trace = Trace("360p")
    remb = 0.75e6
    for _ in range(12):
        trace.second(remb=remb)
        remb *= 1.08
    assert trace.rung == "720p" and trace.adapter.fallbacks == 0


def test_clean_link_after_a_drop_moves_up_by_trial_without_a_prober() -> None:
    trace = Trace("720p")
    for _ in range(3):
        trace.second(loss=0.2, remb=2.6e6)
    assert trace.rung != "720p"
    for _ in range(20):
        trace.second()  # the drop is over; REMB (none here) cannot tell more
    assert trace.rung == "720p"
    back_at = next(t for t, r in reversed(trace.timeline) if r != "720p")
    # 720p failed, then 360p: each waits BACKOFF_S before it is tried again.
    assert back_at - trace.timeline[0][0] < 25


def test_a_trial_that_brings_loss_falls_back_at_once_and_backs_off() -> None:
    trace = Trace("360p", start_bps=600_000)
    for _ in range(4):
        trace.second()
    assert trace.rung == "720p"  # a trial
    trace.second(loss=0.3)  # the link does not carry it
    assert trace.rung == "360p" and trace.adapter.fallbacks == 1
    for _ in range(6):
        trace.second()  # clean again on 360p, but 720p just failed: wait before retrying
    assert trace.rung == "360p"


def test_a_prober_is_asked_after_the_first_clean_second_and_a_clean_probe_moves_up() -> None:
    """An unknown link starts on 360p; when it carries 720p the viewer is there ~2 s after
    connecting: the first clean tick probes, the next one moves up."""
    trace = Trace("360p", probe=True, start_bps=600_000)
    trace.report(0, 0)  # Chromium's first report, with its first REMB (~0.2 s in)
    trace.second(remb=0.7e6)
    assert trace.probes and trace.probes[0][0] == pytest.approx(2_000_000 * PROBE_FACTOR)
    assert trace.rung == "360p"  # the probe's verdict first
    trace.second(remb=0.75e6)
    assert trace.rung == "720p"


@pytest.mark.parametrize(("padding_lost", "moves_up"), [(40, False), (2, True)])
def test_a_probe_is_judged_on_its_padding_too(padding_lost: int, moves_up: bool) -> None:
    """Weak LTE: a 0.15 s probe for 720p overfills the 1 Mbit/s link, but the media's loss in
    the verdict window stayed under PROBE_LOST (the padding took most of it) and the viewer
    went up to 720p. The RTX stream's report shows the padding's loss: a quarter of the
    probe's ~160 packets fails it; two (a lossy radio) do not."""
    trace = Trace("360p", probe=True, start_bps=600_000)
    trace.adapter.feedback.rtx_report(1_000, 3)
    trace.report(0, 0)
    trace.second(remb=0.7e6)
    assert len(trace.probes) == 1
    trace.adapter.feedback.rtx_report(1_160, 3 + padding_lost)
    trace.second(remb=0.75e6)
    assert (trace.rung == "720p") is moves_up
    assert trace.adapter.moves_down == 0


def test_a_probe_that_brings_loss_keeps_the_rung_and_backs_off() -> None:
    """Weak LTE (1 Mbit/s, 2 % loss): the probe for 720p overfills the link's queue and a
    tenth of the media is lost meanwhile. That is the probe's doing, not 360p's: the viewer
    stays on 360p (it fell to 240p before), and 720p waits before it is probed again."""
    trace = Trace("360p", probe=True, start_bps=None)
    trace.report(0, 0)
    trace.second(loss=0.02)
    assert not trace.probes, "a link that lost a packet: its loss known first"
    trace.second(loss=0.02)
    assert len(trace.probes) == 1
    trace.second(loss=0.2)  # the probe's second: a fifth of the packets lost
    assert trace.rung == "360p" and trace.adapter.moves_down == 0
    for _ in range(6):
        trace.second(loss=0.02)
    assert {rung for _, rung in trace.timeline} == {"360p"}
    assert len(trace.probes) == 1  # backing off: not probed again within BACKOFF_S
    assert trace.adapter.estimator.estimate_bps >= 500_000


def test_one_packet_lost_during_a_probe_is_no_verdict() -> None:
    """240p -> 360p: ~26 packets reported in the probe's second, one lost (a lossy
    radio, not the probe): the probe passes."""
    trace = Trace("240p", probe=True, start_bps=300_000)
    trace.report(0, 0)
    trace.second()
    assert trace.probes
    trace.second(loss=0.04)
    assert trace.rung == "360p"


def test_a_probe_that_raises_remb_moves_up_at_once() -> None:
    trace = Trace("360p", probe=True, start_bps=600_000)
    for _ in range(3):
        trace.second(remb=0.7e6)
    trace.second(remb=2.5e6)  # the probe showed what the link carries
    assert trace.rung == "720p"


def test_silence_then_resume_asks_for_a_keyframe_and_moves_nothing() -> None:
    trace = Trace("360p", start_bps=800_000)
    for _ in range(3):
        trace.second(remb=0.7e6)
    estimate = trace.adapter.estimator.estimate_bps
    keyframes = trace.keyframes()
    for _ in range(8):  # an 8 s outage: nothing comes back, the adapter keeps ticking
        trace.t += 1.0
        trace.highest += 40  # the packets we sent meanwhile ...
        trace.adapter.tick(trace.t)
    assert trace.keyframes() == keyframes
    trace.t += 0.3
    trace.feedback.other()  # the first RTCP back is a NACK for what went missing ...
    trace.feedback.rtcp_done()
    assert trace.keyframes() > keyframes  # at once, not at the next tick
    trace.lost += 8 * 40  # ... and the report after it counts the outage's packets as lost
    trace.t += 0.2
    trace.report(5, 0)
    assert trace.adapter.resumes == 1
    for _ in range(3):
        trace.second(remb=0.7e6)
    assert trace.rung in ("360p", "720p")  # the outage was not read as 100 % loss
    assert trace.adapter.estimator.verdicts[Signal.LOSS] == 0
    assert trace.adapter.moves_down == 0
    assert trace.adapter.estimator.estimate_bps >= estimate


def test_an_ordinary_report_gap_is_not_an_outage() -> None:
    trace = Trace("720p")
    trace.second(remb=2.6e6)
    keyframes = trace.keyframes()
    trace.t += 1.3  # Chromium's report interval is 0.5-1.5 s
    trace.report(200, 0)
    assert trace.keyframes() == keyframes and trace.adapter.resumes == 0


def test_queue_drops_move_down() -> None:
    trace = Trace("720p")
    trace.second(remb=2.6e6)
    trace.feed.subscriber.dropped += 30  # the viewer's queue overflowed
    trace.second(remb=2.6e6)
    assert trace.rung == "360p"


def test_the_adapter_remembers_its_estimate_for_the_next_start() -> None:
    trace = Trace("720p")
    memory = EstimateMemory()
    trace.adapter.memory, trace.adapter.memory_key = memory, "k"
    for _ in range(3):
        trace.second(remb=2.6e6)
    known = memory.recall("k")
    assert known is not None and known >= 2.6e6
    assert start_rung(ladder(), known).name == "720p"


def test_a_recorded_clean_chromium_link_climbs_and_never_moves_down() -> None:
    """Chromium's real feedback on a clean link (tests/fanout/traces/): its REMB climbs
    slowly from ~400 kbit/s while it receives 2 Mbit/s. A low REMB is no verdict: the
    viewer climbs from 360p to 720p and stays (the old adapter moved it down on REMB)."""
    recorded = json.loads((TRACES / "chromium-clean-loopback.json").read_text())["events"]
    trace = Trace("360p", start_bps=None)
    start, next_tick = trace.t, trace.t + 1.0
    fb = trace.feedback
    handlers = {f.__name__: f for f in (fb.receiver_report, fb.remb_report, fb.round_trip)}
    handlers["other"] = fb.other
    for at, kind, *args in recorded:
        while start + at >= next_tick:
            trace.t = next_tick
            trace.adapter.tick(trace.t)
            trace.timeline.append((trace.t, trace.rung))
            next_tick += 1.0
        trace.t = start + at
        handlers[kind](*args)
        trace.feedback.rtcp_done()
    verdicts = trace.adapter.estimator.verdicts
    assert verdicts[Signal.LOSS] == verdicts[Signal.DELAY] == 0, verdicts
    assert trace.adapter.moves_down == 0 and trace.adapter.resumes == 0
    assert trace.rung == "720p"
    assert next(t for t, r in trace.timeline if r == "720p") - start <= 5


def test_round_trips_a_failed_probe_caused_are_forgotten_with_it() -> None:
    """The probe filled the link's 100 ms queue: the round trips measured meanwhile read as
    a growing queue, and would move the viewer down once the probe had failed."""
    estimator = LinkEstimator(600_000, now=0.0)
    for i in range(4):
        estimator.on_rtt(i * 0.5, 0.16)
    for i, rtt in enumerate((0.27, 0.28, 0.29, 0.28, 0.27, 0.28, 0.29)):
        estimator.on_rtt(10.0 + 0.4 * i, rtt)
    assert estimator.queue_growing(12.5, 500_000)
    estimator.forget_probe(since=10.0)
    assert not estimator.queue_growing(12.5, 500_000)


def test_a_burst_of_high_round_trips_is_no_growing_queue() -> None:
    """Chromium reports with every NACK: three samples within 100 ms while a keyframe sits
    in the queue (or the event loop was busy) are one moment, not a growing queue."""
    estimator = LinkEstimator(2_000_000, now=0.0)
    for i in range(4):
        estimator.on_rtt(i * 0.5, 0.08)
    for i, rtt in enumerate((0.17, 0.172, 0.175)):
        estimator.on_rtt(5.0 + 0.04 * i, rtt)
    assert not estimator.queue_growing(5.1, 2_000_000)
    estimator.on_rtt(5.5, 0.171)
    estimator.on_rtt(6.1, 0.173)
    assert not estimator.queue_growing(6.2, 2_000_000)  # a keyframe's queue, each second
    estimator.on_rtt(6.6, 0.172)
    estimator.on_rtt(7.1, 0.174)  # still high two seconds on: the queue is growing
    assert estimator.queue_growing(7.2, 2_000_000)


def test_the_pacer_target_of_an_unknown_link_is_the_rung_until_remb_confirms_more() -> None:
    """An unknown link's estimate (850 kbit/s) is a guess: paced at 2.5x it, 360p's
    keyframes overran weak LTE's queue. The pacer gets the rung's bitrate until REMB says
    the link carries more."""
    rungs = ladder()
    t = [100.0]
    feedback = LinkFeedback(clock=lambda: t[0])
    targets: list[float] = []
    adapter = LadderAdapter(
        ViewerFeed(rungs[1], "test"),
        rungs,
        feedback,
        lambda r: r.bitrate,
        None,
        on_estimate=lambda bps, clear: targets.append(bps),
        probe=lambda bps, seconds: None,  # a probe, not a trial move (that reports 720p's)
    )
    adapter.start(t[0])
    assert targets == [500_000]
    feedback.receiver_report(1000, 0)
    t[0] += 0.5
    feedback.remb_report(700_000)
    feedback.receiver_report(1030, 0)
    adapter.tick(t[0])
    assert targets[-1] == pytest.approx(700_000)


def test_a_failed_trials_loss_reported_after_the_fall_back_moves_nothing_more() -> None:
    """720p keeps flowing until 360p's keyframe: its loss is still reported a second after
    the fall back, and is not 360p's (it moved the viewer on down to 240p)."""
    trace = Trace("360p", start_bps=600_000)
    for _ in range(4):
        trace.second()
    assert trace.rung == "720p"  # a trial
    trace.second(loss=0.3)
    assert trace.rung == "360p" and trace.adapter.fallbacks == 1
    for _ in range(3):  # the old rung's packets, a third of them lost, half a second each
        trace.t += 0.5
        trace.report(110, 37)
        trace.adapter.tick(trace.t)
    assert trace.rung == "360p" and trace.adapter.moves_down == 0


def test_the_queue_a_failed_probe_left_is_no_verdict_on_the_rung() -> None:
    """Weak LTE: after a failed probe its queue drains and its repairs go out; the round
    trips stay high for a while ("RTT 252 ms over 161 ms" moved 360p to 240p 2.5 s on)."""
    trace = Trace("360p", probe=True, start_bps=None)
    trace.report(0, 0)
    trace.second(loss=0.02)
    trace.second(loss=0.02)
    trace.second(loss=0.2)  # the probe failed
    assert trace.adapter.moves_down == 0 and trace.probes
    for i in range(6):
        trace.t += 0.5
        trace.rtt = 0.3 + i * 0.001  # (a new sample only when it changes)
        trace.report(25, 0)
        trace.adapter.tick(trace.t)
    assert trace.rung == "360p" and trace.adapter.moves_down == 0


@pytest.mark.parametrize(
    ("handshake_s", "known", "rung"),
    [(4.4, False, "240p"), (0.8, False, "360p"), (4.4, True, "360p")],
)
def test_a_far_unknown_link_starts_on_the_lowest_rung(
    handshake_s: float, known: bool, rung: str
) -> None:
    """The edge of a cell took 4.4 s for ICE and DTLS (weak LTE 0.8 s): an unknown link
    that slow starts on 240p instead of losing 63 % of 360p for its first second; a client
    whose estimate is remembered starts where that says."""
    trace = Trace("360p", probe=True, start_bps=600_000 if known else None, handshake_s=handshake_s)
    assert trace.rung == rung
    trace.rtt = 0.3  # the edge of a cell: 150 +- 40 ms each way
    trace.second()
    assert trace.rung == rung or trace.probes, "it stays, or probes up from there"


@pytest.mark.parametrize(("rtt_s", "climbs"), [(0.16, True), (0.3, False)])
def test_a_slow_handshake_on_a_near_link_climbs_at_its_first_round_trip(
    rtt_s: float, climbs: bool
) -> None:
    """Weak LTE once took 1.73 s for ICE and DTLS (a lost handshake packet waits a second
    for its resend) and started on 240p as a far link would, and stayed there (18.6 fps).
    Its first round trip, 160 ms, says it is near: it climbs to 360p as an unknown link
    would start; the edge of a cell (300 ms) stays where it started."""
    trace = Trace("360p", probe=True, start_bps=None, handshake_s=1.73)
    assert trace.rung == "240p"
    trace.rtt = rtt_s
    for _ in range(3):  # the first ticks after the move down settle (SETTLE_DOWN_S)
        trace.second()
    if climbs:
        assert trace.rung == "360p" and not trace.probes, "on its estimate, unprobed"
    else:
        assert trace.rung == "240p" or trace.probes, "a far link stays, or probes up"


def test_a_probe_lasts_until_its_excess_would_overfill_a_queue_of_what_is_sent() -> None:
    """360p -> 720p overfills a link that carries only 360p at once; 240p -> 360p takes
    longer (probes of 0.15 and 0.16 s for 360p passed on a 400 kbit/s link)."""
    assert probe_seconds(600_000, 2_640_000) == pytest.approx(0.15)  # 720p with 20 % FEC
    # 240p (250 kbit/s and FEC) -> 360p with a sixth for FEC: its excess over the edge of a
    # cell's 400 kbit/s (242 kbit/s over it for 0.42 s: 12.6 kB) overfills its 5 kB queue.
    assert probe_seconds(292_000, 642_000) == pytest.approx(0.417, abs=0.01)
    assert probe_seconds(330_000, 550_000) == pytest.approx(0.5)
    assert probe_seconds(500_000, 510_000) == pytest.approx(0.5)


def test_a_link_that_loses_nothing_becomes_clear_and_a_loss_ends_it_with_a_back_off() -> None:
    """Clear: the pacer sends faster (relay.fanout.clear_link). It takes 5 s without loss;
    a single loss ends it (it may be the bursts' own), and it is not clear again for 30 s."""
    trace = Trace("720p")

    def clear() -> bool:
        return trace.reported[-1][1]

    for _ in range(4):
        trace.second(remb=2.6e6)
    assert not clear()
    for _ in range(2):
        trace.second(remb=2.6e6)
    assert clear()
    trace.second(nack_rr=1, remb=2.6e6)
    assert not clear() and trace.adapter.pacer_target.clear_link.lapses == 1
    assert trace.adapter.moves_down == 0  # one loss slows the pacer, it moves no one
    for _ in range(28):
        trace.second(remb=2.6e6)
    assert not clear()  # backing off
    for _ in range(3):
        trace.second(remb=2.6e6)
    assert clear()


def test_a_quick_handshake_is_a_near_link_that_starts_clear_until_its_first_loss() -> None:
    """ICE and DTLS within NEAR_HANDSHAKE_S of the answer: a LAN. Its pacer hears "clear"
    when the peer connects, so the first keyframe leaves at the clear rate; a loss ends it
    with the usual back-off. Good LTE's handshake (0.40 s) and an unmeasured one start as
    an unknown link, clear only after 5 s without loss."""
    near = Trace("720p", handshake_s=NEAR_HANDSHAKE_S - 0.01)
    assert near.reported == [(2_000_000, True)]  # 720p's rate, clear, before any report
    near.second(remb=2.6e6)
    assert near.reported[-1][1]
    near.second(nack_rr=1, remb=2.6e6)
    assert not near.reported[-1][1] and near.adapter.pacer_target.clear_link.lapses == 1
    for _ in range(10):
        near.second(remb=2.6e6)
    assert not near.reported[-1][1]  # backing off, as any clear link after a loss
    for handshake_s in (NEAR_HANDSHAKE_S, 0.40, None):
        other = Trace("720p", handshake_s=handshake_s)
        other.second(remb=2.6e6)
        assert not any(clear for _, clear in other.reported), handshake_s


def test_a_link_with_lte_random_loss_is_never_clear() -> None:
    """Good LTE loses 0.5 % of its packets: about one of 720p's every second."""
    trace = Trace("720p")
    for _ in range(30):
        trace.second(loss=0.005, remb=2.6e6)
    assert not any(clear for _, clear in trace.reported)
    assert {rung for _, rung in trace.timeline} == {"720p"}


def test_a_move_up_sets_the_pacers_target_to_the_new_rung_at_once() -> None:
    """The ticks after a move only settle: 720p paced for a second at 360p's rate queued
    50 kB that then overran good LTE's queue (bench_lte: "fell back: loss 16 %")."""
    trace = Trace("360p", start_bps=600_000, probe=True)
    for _ in range(10):
        trace.second()  # no REMB: only a probe (padding, clean) moves it up
        if trace.rung == "720p":
            break
    assert trace.probes and trace.rung == "720p"
    assert trace.reported[-1][0] >= 2_000_000  # 720p's bitrate, reported with the move


def test_an_outage_just_after_a_probed_move_up_resumes_on_the_higher_rung() -> None:
    """The probe showed the link carries 720p: a silence within the move's watch (an
    aiortc receiver's RTCP gap on a busy machine read as one) does not send it back down."""
    trace = Trace("360p", start_bps=600_000, probe=True)
    for _ in range(10):
        trace.second()
        if trace.rung == "720p":
            break
    assert trace.rung == "720p"
    trace.t += 3.0  # silence: no RTCP
    trace.adapter.tick(trace.t)
    trace.second()  # the feedback is back
    assert trace.adapter.resumes == 1 and trace.rung == "720p"


def test_a_probe_asks_for_the_next_rung_with_its_fec() -> None:
    """At 5 % loss FEC adds a third: the edge of a cell passed a probe at 1.1 x 360p's 500
    kbit/s and then lost a third of 360p's packets. The probe asks for 360p and its FEC."""
    trace = Trace("240p", start_bps=300_000, probe=True)
    trace.adapter.protect = lambda loss: 1 / 3  # the pacer's answer at 5 % loss
    for _ in range(8):
        trace.second()
        if trace.probes:
            break
    assert trace.probes, "a clean link probes for the rung above"
    assert trace.probes[0][0] == pytest.approx(500_000 * (1 + 1 / 3) * PROBE_FACTOR)


def probe_sent(trace: Trace, media_after: int, padding: int, rtx_began: int = 5_000) -> Probe:
    """The pacer's account of a probe: media sent up to `media_after` packets past what the
    receiver has reported, and `padding` packets on the RTX stream from `rtx_began`."""
    sent = Probe()
    sent.begin(2.9e6, 0.0, 0.15, (trace.highest + 1) & 0xFFFF, rtx_began)
    sent.sent_up_to((trace.highest + 1 + media_after) & 0xFFFF, (rtx_began + padding) & 0xFFFF)
    return sent


@pytest.mark.parametrize(("padding_lost", "moves_up"), [(40, False), (2, True)])
def test_a_probes_verdict_waits_for_the_report_on_its_padding(
    padding_lost: int, moves_up: bool
) -> None:
    """Weak LTE: a probe for 720p overfilled the link, its verdict came before the RTX
    stream's first report, so it was judged on the media alone and passed (a 1.1 s freeze
    on 720p followed). The verdict now waits until reports reach the last packets the probe
    sent on each stream; with no RTX report from before it, its padding's losses count
    from its first RTX sequence number (here across the 16-bit wrap)."""
    trace = Trace("360p", probe=True, start_bps=600_000)
    trace.report(0, 0)
    sent = probe_sent(trace, media_after=10, padding=160, rtx_began=65_500)
    trace.adapter.probe = lambda bps, seconds: sent
    trace.second(remb=0.7e6)
    assert trace.adapter.trying, "a probe is under way"
    trace.second(remb=0.75e6)  # the media's report is in, the padding's is not
    assert trace.rung == "360p" and trace.adapter.trying, "the verdict waits"
    trace.feedback.rtx_report(65_536 + 123, padding_lost)  # 65,500 .. 65,659: 160 packets
    trace.second(remb=0.75e6)
    assert (trace.rung == "720p") is moves_up
    assert trace.adapter.moves_down == 0


def test_a_probe_with_no_report_on_its_padding_fails_after_the_wait() -> None:
    trace = Trace("360p", probe=True, start_bps=600_000)
    trace.report(0, 0)
    sent = probe_sent(trace, media_after=10, padding=160)
    trace.adapter.probe = lambda bps, seconds: sent
    trace.second(remb=0.7e6)
    waited = 0.0
    while trace.adapter.trying and waited < 5:
        trace.second(remb=0.75e6)
        waited += 1
    assert trace.rung == "360p" and not trace.adapter.trying
    assert 1 + PROBE_REPORT_WAIT_S - 1 <= waited <= 1 + PROBE_REPORT_WAIT_S + 1


def test_a_link_that_lost_a_packet_is_probed_once_its_loss_is_known() -> None:
    """A lossy link on 240p: one packet lost in the first second's 50 (2 %, no verdict
    on the rung) and the rung above would need FEC for a loss not
    known yet. No probe until the window has counted PROBE_LOSS_KNOWN_PACKETS; then the
    probe asks for 360p with the FEC that loss needs."""
    trace = Trace("240p", start_bps=300_000, probe=True)
    trace.adapter.protect = lambda loss: 1 / 3 if loss >= 0.01 else 0.0
    trace.report(0, 0)
    counted = 0
    while not trace.probes and counted < 200:
        trace.t += 1.0
        trace.report(50, 1)  # 2 %
        counted += 50
        trace.adapter.tick(trace.t)
    assert counted >= PROBE_LOSS_KNOWN_PACKETS
    assert trace.probes[0][0] == pytest.approx(500_000 * (1 + 1 / 3) * PROBE_FACTOR)
