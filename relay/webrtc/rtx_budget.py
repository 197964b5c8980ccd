"""Which NACKed packets a viewer gets again: only those that can still help, within a budget.

At the edge of an LTE cell (400 kbit/s, 5 % loss, 300 ms RTT) Chromium NACKs every missing
packet once per RTT, up to ten times; answered in full, retransmissions outnumbered the video
packets and crowded them out (issue 17). A retransmission is worth its bytes only while the
receiver still waits for it and while it leaves room for the video.
"""

from __future__ import annotations

from collections import deque

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
