"""Viewers that adapt: move a viewer down or up its stream's ladder from its RTCP feedback.

Each automatic viewer has one small task that looks, once a second, at what the viewer's
receiver reports (fraction lost in receiver reports, REMB, round-trip time) and at its own
queue drops. Loss, drops or a REMB under the rung's bitrate move it down at once; a clean
link for a while, with room in REMB, moves it up one rung. The switch happens at the new
rung's next keyframe inside the viewer's feed, with no renegotiation. The transport fills
in the LinkFeedback (WebRTC: relay.webrtc.feedback, from RTCP).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from relay.fanout.feed import ViewerFeed
from relay.fanout.rendition import Rendition

log = logging.getLogger(__name__)

TICK_S = 1.0
LOSS_DOWN = 0.08  # fraction lost in a receiver report that moves a viewer down
LOSS_CLEAN = 0.02
UP_AFTER_S = 8.0  # a clean link this long (since the last move) may move up a rung
SETTLE_S = 2.0  # after a move, feedback about the old rung is ignored this long
REMB_STARVED = 0.5  # REMB under half the rung's bitrate moves a viewer down
REMB_HEADROOM = 1.3  # REMB must exceed the higher rung's bitrate by this much to go up


@dataclass
class LinkFeedback:
    """The latest of what the viewer's receiver told us (written by the transport)."""

    loss: float = 0.0
    loss_reports: int = 0
    remb: int | None = None
    rtt_s: float | None = None


class LadderAdapter:
    """Moves one viewer's feed along its stream's ladder (sorted high to low bitrate)."""

    def __init__(
        self,
        feed: ViewerFeed,
        ladder: Sequence[Rendition],
        feedback: LinkFeedback,
        bitrate_of: Callable[[Rendition], float],
    ) -> None:
        self.feed = feed
        self.ladder = list(ladder)
        self.feedback = feedback
        self.bitrate_of = bitrate_of
        self.moved_at = time.monotonic()
        self.clean_since = time.monotonic()
        self.moves_down = 0
        self.moves_up = 0
        self._dropped = 0

    def _index(self) -> int:
        target = self.feed.pending.rendition if self.feed.pending else self.feed.rendition
        return self.ladder.index(target)

    def tick(self) -> None:
        """One decision from the feedback gathered since the last tick."""
        now = time.monotonic()
        loss, remb = self.feedback.loss, self.feedback.remb
        self.feedback.loss = 0.0  # the worst report per tick; the next tick starts afresh
        dropped = self.feed.dropped - self._dropped
        self._dropped = self.feed.dropped
        if now - self.moved_at < SETTLE_S:
            return
        index = self._index()
        current = self.bitrate_of(self.ladder[index])
        # REMB alone moves down only when far under the rung: browsers ramp their estimate
        # up from a low start, and loss tells of real trouble sooner.
        starved = remb is not None and remb < current * REMB_STARVED
        congested = loss >= LOSS_DOWN or dropped > 0 or starved
        if congested:
            self.clean_since = now
            if index + 1 < len(self.ladder):
                self._move(index + 1, f"loss {loss:.0%}, drops {dropped}, REMB {remb}")
                self.moves_down += 1
            return
        if loss > LOSS_CLEAN:
            self.clean_since = now
            return
        if index > 0 and now - self.clean_since >= UP_AFTER_S:
            higher = self.bitrate_of(self.ladder[index - 1])
            if remb is None or remb >= higher * REMB_HEADROOM:
                self._move(index - 1, f"clean link, REMB {remb}")
                self.moves_up += 1

    def _move(self, index: int, why: str) -> None:
        rendition = self.ladder[index]
        log.info("[viewer %s] -> %s (%s)", self.feed.name, rendition.name, why)
        self.feed.switch_to(rendition)
        self.moved_at = self.clean_since = time.monotonic()

    async def run(self) -> None:
        """Ticks until the feed ends; started once the peer connects: what happened
        before (a queue that filled while ICE and DTLS were under way) is no verdict on
        the link."""
        self._dropped = self.feed.dropped
        self.feedback.loss = 0.0
        self.moved_at = self.clean_since = time.monotonic()
        while self.feed.live:
            await asyncio.sleep(TICK_S)
            self.tick()
