"""A viewer's pacer: its RTP packets leave spread over time, never as one burst.

Sent as it came, a 720p keyframe left in one burst into an LTE link whose queue holds
9-42 kB: the shaper dropped hundreds of packets. Like libwebrtc's pacer, packets leave at
PACING_FACTOR x the target rate (the adapter's, else the rung's bitrate), keyframes at
KEYFRAME_PACING_FACTOR x, all at CLEAR_PACING_FACTOR x on a clear link. Frames are queued
whole; an idle pacer sends BURST_S worth at once, the rest leaves on the shared 5 ms tick.
Sequence numbers and abs-send-time are set as a packet leaves (the browser sees the link's
queue, not ours; media dropped here leaves no gap to NACK). Retransmissions go first, within
rtx_budget's share; probe() pads; FEC per ulpfec.py. docs/pacing.md has the rules.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import deque
from collections.abc import Callable

from aiortc.rtcrtpsender import random_sequence_number

from relay.webrtc.pacer_probe import Probe
from relay.webrtc.pacer_queue import MAX_QUEUE_S, FrameQueue
from relay.webrtc.pacer_send import send_plain, send_protected
from relay.webrtc.pacing_tick import shared_ticker
from relay.webrtc.rtp_wire import PADDING, Wire, ntp_now, padding_packet
from relay.webrtc.rtx_budget import HISTORY_SIZE, Resend
from relay.webrtc.ulpfec import FecGroup, group_for_loss

log = logging.getLogger(__name__)

PACING_FACTOR = 2.5  # packets leave at this multiple of the target rate (libwebrtc's value)
# A keyframe's: a link queues what leaves faster than it carries (docs/pacing.md: why 2).
KEYFRAME_PACING_FACTOR = 2.0
_KEY_SHARE = KEYFRAME_PACING_FACTOR / PACING_FACTOR
CLEAR_PACING_FACTOR = 10.0  # a clear link's (relay.fanout.clear_link), keyframes too
BURST_S = 0.005  # an idle pacer sends this long's worth at once (one tick's)
CATCH_UP_S = MAX_QUEUE_S  # a pacer whose tick came late (our lateness, not the link's)
# catches up as much; at 50 ms a starved loop dropped a fifth of the media (bench_send.py)
MIN_TARGET_BPS = 150_000.0  # the floor while a rung's rate is unknown (passthrough starting)
RUNG_RATE_EVERY_S = 1.0  # how often the rung's bitrate is read again (passthrough: measured)

_TIMESTAMP_SSRC = struct.Struct("!LL")


class Pacer:
    """One viewer's pacer (track.pacer); its counters (stats()) are in docs/pacing.md."""

    def __init__(
        self,
        rung_bps: Callable[[], float],
        request_keyframe: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        schedule: Callable[[Pacer], None] | None = None,
        name: str = "",
    ) -> None:
        self.name = name
        self._rung_bps = rung_bps
        self._request_keyframe = request_keyframe
        self.clock = clock
        self._schedule = schedule or (lambda pacer: shared_ticker().add(pacer))
        self.wire: Wire | None = None
        # Frames waiting: [payloads, next packet index, timestamp+SSRC bytes, queued at, key]
        self._queue = FrameQueue()
        self._frames = self._queue.frames  # the hot path's view of it
        self._rtx: deque[int] = deque()  # admitted retransmissions, by sequence number
        self._resend = Resend()  # what was sent, for NACKs, and what may be sent again
        self._budget = 0.0
        self._last = clock()
        self._busy = False  # on the ticker
        self._keyframe_at = float("-inf")  # when the newest keyframe's first packet left
        self._target: float | None = None
        self._rung = 0.0
        self._rung_read_at = float("-inf")
        self._rate = 0.0  # pacing rate in bytes/s, set with the target (drain reads it often)
        self._key_share = _KEY_SHARE  # a keyframe's share of it: 1 on a clear link
        self._probe, self.clear = Probe(), False
        self.fec: FecGroup | None = None  # set when the viewer's answer has RED and ULPFEC
        self._last_timestamp = b"\x00\x00\x00\x00"
        self.sequence = random_sequence_number()
        self.rtx_sequence = random_sequence_number()
        self.video_packets = self.video_octets = 0
        self.retransmitted_packets = 0
        self.padding_packets = 0
        self.queue_delay_ms = 0.0

    # -- the rate -----------------------------------------------------------------------

    def set_target_bps(self, bps: float, clear: bool = False) -> None:
        """Paces to `bps` (what the link carries) from now on; faster on a `clear` link."""
        self._target = max(float(bps), MIN_TARGET_BPS)
        self._rate = self._target * (CLEAR_PACING_FACTOR if clear else PACING_FACTOR) / 8
        self._key_share, self.clear = (1.0 if clear else _KEY_SHARE), clear

    @property
    def target_bps(self) -> float:
        """The rate paced to (x PACING_FACTOR): the estimator's, else the rung's bitrate."""
        if self._target is not None:
            return self._target
        self._read_rung(self.clock())
        return self._rung

    def _read_rung(self, now: float) -> None:
        """The rung's bitrate again, at most every RUNG_RATE_EVERY_S (passthrough's is measured)."""
        if now - self._rung_read_at >= RUNG_RATE_EVERY_S:
            self._rung, self._rung_read_at = max(self._rung_bps(), MIN_TARGET_BPS), now
            if self._target is None:
                self._rate = self._rung * PACING_FACTOR / 8

    def probe(self, bps: float, seconds: float) -> Probe:
        """For `seconds`, pads what goes out up to `bps` (if the pacing rate allows);
        returns the probe, which tells whether the receiver's reports cover it."""
        now = self.clock()
        self._read_rung(now)
        self._probe.begin(bps, now, seconds, self.sequence, self.rtx_sequence)
        self._wake(now)
        return self._probe

    def protect(self, loss: float) -> float:
        """FEC for a link losing `loss` of its packets; returns its share of the media's rate."""
        if self.fec is None:
            return 0.0
        self.fec.size = group_for_loss(loss)
        if not self.fec.size:
            self.fec.reset()  # an open group would span a gap when FEC resumes
        return 1 / self.fec.size if self.fec.size else 0.0

    @property
    def retransmits_dropped(self) -> int:
        return self._resend.dropped

    @property
    def retransmits_stale(self) -> int:
        return self._resend.stale

    @property
    def media_dropped(self) -> int:
        return self._queue.dropped

    def stats(self) -> dict[str, float]:
        """The counters, for the viewer list and /metrics."""
        return {
            "video_packets": self.video_packets,
            "retransmitted_packets": self.retransmitted_packets,
            "retransmits_dropped": self.retransmits_dropped,
            "retransmits_stale": self.retransmits_stale,
            "media_dropped": self.media_dropped,
            "padding_packets": self.padding_packets,
            "probes_aborted": self._probe.aborted,
            "fec_packets": self.fec.packets if self.fec is not None else 0,
            "segmented_packets": self.wire.segmented if self.wire is not None else 0,
            "queue_delay_ms": round(self.queue_delay_ms, 1),
            "target_bps": round(self.target_bps),
            "clear": self.clear,
        }

    # -- what goes in ------------------------------------------------------------------------

    def push(self, payloads: list[bytes], timestamp: int, keyframe: bool) -> None:
        """Queues one frame (its RTP payloads, shared with other viewers) to send."""
        wire = self.wire
        if wire is None:
            return
        now = self.clock()
        if self._target is None:
            self._read_rung(now)
        if self._frames:
            self._drop_stale(now)
        rest = _TIMESTAMP_SSRC.pack(timestamp, wire.ssrc)
        if self._queue.add(payloads, rest, now, keyframe, self._rate * self._key_share):
            self._wake(now)

    def retransmit(self, sequence_number: int) -> None:
        """A NACKed packet: queued first if it can still help and fits the budget."""
        wire, now = self.wire, self.clock()
        if wire is None:
            return
        kept = self._resend.history[sequence_number % HISTORY_SIZE]
        if kept is not None and kept[0] == sequence_number and self._probe.nacked(kept[4], now):
            log.debug("[viewer %s] probe ended early: NACKs for its packets", self.name)
        size = 14 + len(wire.extensions.block)  # the RTX packet's overhead
        if self._resend.admit(
            sequence_number, now, wire.rtt_s(), self._keyframe_at, self.target_bps, size
        ):
            self._rtx.append(sequence_number)
            self._wake(now)

    def close(self) -> None:
        """Forgets the queue and the way out (the viewer is gone)."""
        self.wire = None
        self._frames.clear()
        self._rtx.clear()

    # -- what goes out -----------------------------------------------------------------------

    def _wake(self, now: float) -> None:
        if self._busy:
            return  # the next tick sends it
        if self.drain(now):
            self._busy = True
            self._schedule(self)

    def detached(self) -> None:
        self._busy = False

    def drain(self, now: float) -> bool:
        """Sends what the budget allows at `now`; True while something still waits."""
        wire = self.wire
        if wire is None:
            return False
        probing = now < self._probe.until
        # Bytes per second: a keyframe at the head slower, a probe at its own rate.
        rate = self._rate * self._key_share if self._frames and self._frames[0][4] else self._rate
        rate = max(rate, self._probe.bps / 8) if probing else rate
        cap = rate * (CATCH_UP_S if self._busy else BURST_S)
        self._budget = min(self._budget + (now - self._last) * rate, cap)
        self._last = now
        if self._frames:
            self._drop_stale(now)
        if self._budget <= 0:
            return bool(self._frames or self._rtx) or probing
        if not wire.connected():
            self.close()  # the send loop ends too, on its next frame
            return False
        extensions = wire.extensions.at_time(ntp_now())  # abs-send-time: now, for this tick
        budget = self._budget
        while budget > 0:
            before = budget
            if self._rtx:
                budget -= self._send_retransmission(wire, self._rtx.popleft(), extensions)
            elif self._frames:
                budget = self._send_media(wire, now, extensions, budget)
            elif probing and self._probe.owed(now) > 0:
                budget -= self._send_padding(wire, extensions)
            else:
                break
            if probing:
                self._probe.sent += int(before - budget)
                self._probe.sent_up_to(self.sequence, self.rtx_sequence)
        self._budget = budget
        return bool(self._frames or self._rtx) or probing

    def _send_media(self, wire: Wire, now: float, extensions: bytes, budget: float) -> float:
        """Sends the first frame's packets while `budget` lasts; returns what is left of it
        (the per-packet loops: pacer_send.py)."""
        frame = self._frames[0]
        payloads: list[bytes] = frame[0]  # type: ignore[assignment]
        index: int = frame[1]  # type: ignore[assignment]
        rest: bytes = frame[2]  # type: ignore[assignment]
        if index == 0:  # (behind a keyframe, the wait counts from when it should be out)
            self.queue_delay_ms = max(0.0, now - frame[3]) * 1000  # type: ignore[operator]
            if frame[4]:
                self._keyframe_at = now
        start, last = index, len(payloads) - 1
        history, fec = self._resend.history, self.fec
        tail = rest + extensions  # timestamp, SSRC, extensions: the same for the whole frame
        todo = (payloads, index, rest, tail, self.sequence, now, budget)
        if fec is not None and fec.size:
            index, sequence, octets, budget = send_protected(wire, fec, self._rtx, history, todo)
        else:
            index, sequence, octets, budget = send_plain(wire, history, todo)
        self.sequence = sequence
        self.video_packets += index - start
        self.video_octets += octets
        if index > last:
            self._frames.popleft()
            self._last_timestamp = rest[:4]
        else:
            frame[1] = index
        return budget

    def _send_retransmission(self, wire: Wire, sequence: int, extensions: bytes) -> int:
        packet = self._resend.packet(sequence, wire, self.rtx_sequence, extensions)
        if packet is None:
            return 0
        if wire.rtx_payload_type is not None:
            self.rtx_sequence = (self.rtx_sequence + 1) & 0xFFFF
        wire.send(packet)
        self.retransmitted_packets += 1
        return len(packet)

    def _send_padding(self, wire: Wire, extensions: bytes) -> int:
        """A padding-only packet: on the RTX stream if there is one, else on the media's."""
        rtx = wire.rtx_payload_type is not None
        sequence = self.rtx_sequence if rtx else self.sequence
        wire.send(padding_packet(wire, rtx, sequence, self._last_timestamp, extensions))
        if rtx:
            self.rtx_sequence = (sequence + 1) & 0xFFFF
        else:
            self.sequence = (sequence + 1) & 0xFFFF
            if self.fec is not None:
                self.fec.reset()  # padding inside a group: FEC would hide the frame
        self.padding_packets += 1
        return 12 + len(extensions) + PADDING

    def _drop_stale(self, now: float) -> None:
        if self._queue.drop_stale(now):
            self._request_keyframe()
            log.info(
                "[viewer %s] media waited over %.0f ms in the pacer: dropped, keyframe asked for",
                self.name,
                MAX_QUEUE_S * 1e3,
            )
