"""Which NACKed packets a viewer gets again: only those that can still help, within a budget.

At the edge of an LTE cell (400 kbit/s, 5 % loss, 300 ms RTT) Chromium NACKs every missing
packet once per RTT, up to ten times; answered in full, retransmissions outnumbered the video
packets and crowded them out (issue 17). A retransmission is worth its bytes only while the
receiver still waits for it and while it leaves room for the video.
"""

from __future__ import annotations

from collections import deque

from relay.webrtc.rtp_wire import Wire, rtx_packet

HISTORY_SIZE = 512  # packets kept for NACKs: ~2.5 s of a 2 Mbit/s rung
RTX_SHARE = 0.25  # retransmissions may use this share of the target rate ...
RTX_WINDOW_S = 1.0  # ... over any window this long (a sliding window, not a token bucket)
RTX_MAX_AGE_S = 1.0  # never resend a packet first sent longer ago than this
RTX_AGE_RTTS = 4.0  # nor one older than this many round trips: the receiver has moved on
# but allow at least this long: a receiver on a LAN (RTT ~1 ms) or a busy one may NACK late
# (seen: first NACK 0.45 s after the packet left, RTT 15 ms, on a loaded machine)
RTX_MIN_AGE_S = 0.5
RTX_DEFAULT_RTT_S = 0.1  # the round trip assumed until the first receiver report


def max_age_s(rtt_s: float | None) -> float:
    """How old a packet may be and still be resent, given the round trip (if known)."""
    if rtt_s is None:
        return RTX_MAX_AGE_S
    return min(RTX_MAX_AGE_S, max(RTX_MIN_AGE_S, RTX_AGE_RTTS * rtt_s))


class RetransmitBudget:
    """Bytes resent over the last RTX_WINDOW_S, admitted while they stay under the share."""

    def __init__(self) -> None:
        self._sent: deque[tuple[float, int]] = deque()  # (when admitted, bytes)
        self._bytes = 0

    def admit(self, size: int, now: float, target_bps: float) -> bool:
        """True (and counted) if `size` more bytes fit the window's allowance."""
        sent, cutoff = self._sent, now - RTX_WINDOW_S
        while sent and sent[0][0] <= cutoff:
            self._bytes -= sent.popleft()[1]
        if self._bytes + size > RTX_SHARE * target_bps / 8 * RTX_WINDOW_S:
            return False
        sent.append((now, size))
        self._bytes += size
        return True

    @property
    def in_window(self) -> int:
        """Bytes admitted over the current window."""
        return self._bytes


# What the history keeps of a sent packet: (sequence, first 4 header bytes, timestamp and
# SSRC, payload, when sent). The payload is shared by all viewers: a reference, not a copy.
Sent = tuple[int, bytes, bytes, bytes, float]


class Resend:
    """One viewer's sent packets (by sequence number % HISTORY_SIZE, filled by the pacer)
    and the decision which NACKed ones to send again. Counters: `stale` (too old, before
    a newer keyframe, resent within an RTT, or no longer kept), `dropped` (over budget)."""

    def __init__(self) -> None:
        self.history: list[Sent | None] = [None] * HISTORY_SIZE
        self.budget = RetransmitBudget()
        self.stale = self.dropped = 0
        self._resent: dict[int, float] = {}

    def admit(
        self,
        sequence: int,
        now: float,
        rtt_s: float | None,
        keyframe_at: float,
        target_bps: float,
        overhead: int,
    ) -> bool:
        """True if the packet `sequence` should be sent again now (counted in the budget)."""
        kept = self.history[sequence % HISTORY_SIZE]
        resent = self._resent.get(sequence)
        if (
            kept is None
            or kept[0] != sequence
            or now - kept[4] > max_age_s(rtt_s)
            or kept[4] < keyframe_at  # the receiver can start over from that keyframe
            or (resent is not None and now - resent < (rtt_s or RTX_DEFAULT_RTT_S))
        ):
            self.stale += 1
            return False
        if not self.budget.admit(overhead + len(kept[3]), now, target_bps):
            self.dropped += 1
            return False
        if len(self._resent) >= HISTORY_SIZE:
            self._resent.clear()  # weakens only the duplicate check; the budget still holds
        self._resent[sequence] = now
        return True

    def packet(self, sequence: int, wire: Wire, rtx_sequence: int, ext: bytes) -> bytes | None:
        """The packet to send again (RTX if negotiated), or None if no longer kept."""
        kept = self.history[sequence % HISTORY_SIZE]
        if kept is None or kept[0] != sequence:
            return None
        if wire.rtx_payload_type is None:  # resent as it was, on the media's SSRC
            return kept[1] + kept[2] + ext + kept[3]
        return rtx_packet(wire, kept[1] + kept[2], kept[3], rtx_sequence, ext)
