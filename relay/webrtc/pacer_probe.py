"""A pacer's probe: padding up to a rate for a while, ended early when the link says no.

An estimator that must find out whether a higher rung fits asks the pacer to send at that
rung's rate for a moment (a browser's REMB follows what it receives, capped near 1.5x it).
Into a link that cannot carry it the probe fills the queue in tens of milliseconds and then
everything is lost, the media too; the receiver NACKs what went missing within a round
trip, so a few NACKs for packets sent during the probe end it at once.
"""

from __future__ import annotations

# A probe ends early once this many packets sent during it are NACKed: the link's queue is
# full. At 2.4 Mbit/s into weak LTE's 1 Mbit/s that is ~0.1 s after the first loss instead
# of the probe's whole length; a radio losing 2 % NACKs ~0.5 packets in a 0.5 s probe.
PROBE_ABORT_NACKS = 3


class Probe:
    """What the pacer pads to (bps), from when until when, and what it sent meanwhile."""

    def __init__(self) -> None:
        self.bps = 0.0
        self.start = self.until = 0.0
        self.sent = 0  # bytes sent (media, retransmissions, padding) since it started
        self.nacks = 0
        self.aborted = 0  # probes ended early, for the counters
        # The next sequence numbers on the media and RTX streams when it began, and after
        # the last packet it sent: its verdict waits for reports that cover them.
        self.media_began = self.media_next = self.rtx_began = self.rtx_next = 0

    def begin(self, bps: float, now: float, seconds: float, media_next: int, rtx_next: int) -> None:
        self.bps, self.start, self.until = bps, now, now + seconds
        self.sent = self.nacks = 0
        self.media_began = self.media_next = media_next
        self.rtx_began = self.rtx_next = rtx_next

    def sent_up_to(self, media_next: int, rtx_next: int) -> None:
        """The next sequence numbers after what was just sent while probing."""
        self.media_next, self.rtx_next = media_next, rtx_next

    def covered(self, media_highest: int | None, rtx_highest: int | None) -> bool:
        """Whether the receiver's reports (extended highest sequence numbers, None: none
        yet) reach the last packets the probe sent on each stream it sent on. A verdict
        before the RTX stream's report on its padding judged a probe that overfilled weak
        LTE on the media alone, and passed it (bench_lte)."""
        return _reaches(media_highest, self.media_began, self.media_next) and _reaches(
            rtx_highest, self.rtx_began, self.rtx_next
        )

    def owed(self, now: float) -> float:
        """Bytes still to send to keep up the probe's rate."""
        return self.bps / 8 * (now - self.start) - self.sent

    def nacked(self, sent_at: float, now: float) -> bool:
        """A NACK while probing for a packet first sent at `sent_at`; True if it ended
        the probe."""
        if now >= self.until or sent_at < self.start:
            return False
        self.nacks += 1
        if self.nacks < PROBE_ABORT_NACKS:
            return False
        self.until = now
        self.aborted += 1
        return True


def _reaches(highest: int | None, began: int, after_last: int) -> bool:
    if after_last == began:
        return True  # nothing sent on that stream while probing
    if highest is None:
        return False
    # 16-bit sequence numbers: the report reaches the last one if it is not behind it.
    return (highest - (after_last - 1)) & 0xFFFF < 0x8000
