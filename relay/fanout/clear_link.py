"""A clear link: one that lost nothing for a while, so its pacer may send faster.

Pacing at 2.5x the rate protects a link's shallow queue, but costs every frame delay at the
glass: Chromium's jitter buffer holds all frames back by what its largest ones (keyframes)
take to arrive, and a 50 kB keyframe paced at 4-5 Mbit/s takes 80-100 ms. bench_lte's clean
link at 720p, one 20 s run each: delay p50 118 ms paced at 2.5x, 64 ms at 50x.
A link that lost no packet for CLEAR_AFTER_S, with no sign of a growing queue, has room: its
frames, keyframes included, leave faster (relay.webrtc.pacer.CLEAR_PACING_FACTOR). A loss
while clear may be the bursts' own doing: back to normal pacing, and not clear again for
CLEAR_BACKOFF_S, doubling up to CLEAR_BACKOFF_MAX_S. LTE's random loss (0.5-5 %) keeps a
tablet's link from ever being clear: this is for the LAN and the control room. A link whose
handshake was quick is near (a LAN) and starts clear (start_clear).
"""

from __future__ import annotations

CLEAR_AFTER_S = 5.0
CLEAR_BACKOFF_S, CLEAR_BACKOFF_MAX_S = 30.0, 240.0
CLEAR_FORGIVEN_S = 120.0  # clear this long: a loss after it backs off from the start again


class ClearLink:
    """Decides, once a tick, whether a viewer's link is clear (see the module's text)."""

    def __init__(self, now: float) -> None:
        self.clear = False
        self.lapses = 0  # clear spells ended by a loss or a growing queue
        self._lost: int | None = None
        self._clean_since = now
        self._clear_since = now
        self._retry_at = now
        self._failures = 0

    def start_clear(self, now: float) -> None:
        """A near link (a quick handshake, relay.fanout.start.NEAR_HANDSHAKE_S) is clear from
        the start: nothing was lost yet, and a loss ends it as any clear spell."""
        self.clear, self._clear_since = True, now

    def update(self, now: float, cumulative_lost: int | None, trouble: bool) -> bool:
        """`cumulative_lost`: the receiver's count in its newest report (None before one);
        `trouble`: the estimator saw loss or a growing queue this tick."""
        lost_more = (
            cumulative_lost is not None and self._lost is not None and cumulative_lost > self._lost
        )
        if cumulative_lost is not None:
            self._lost = cumulative_lost
        if lost_more or trouble:
            if self.clear:
                if now - self._clear_since >= CLEAR_FORGIVEN_S:
                    self._failures = 0
                self._failures += 1
                wait = CLEAR_BACKOFF_S * 2 ** (self._failures - 1)
                self._retry_at = now + min(CLEAR_BACKOFF_MAX_S, wait)
                self.clear = False
                self.lapses += 1
            self._clean_since = now
        elif (
            not self.clear
            and self._lost is not None
            and now - self._clean_since >= CLEAR_AFTER_S
            and now >= self._retry_at
        ):
            self.clear, self._clear_since = True, now
        return self.clear
