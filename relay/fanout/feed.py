"""One viewer's feed: the packets of its current rendition, and moving it to another one.

The feed can move its viewer to another rendition without renegotiation: it subscribes to
the new one, keeps delivering the old one until the new one's keyframe is there, then swaps.
Timestamps stay continuous across the swap. It knows no transport: the WebRTC track
(relay.webrtc.track) reads a feed and hands its packets to the viewer's peer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from relay.fanout.rendition import Rendition, Subscriber
from relay.media.access_unit import CLOCK_RATE
from relay.media.packet import EncodedPacket

# A backlog older than this when the peer starts receiving is skipped. It holds what queued
# from the offer on: answering (0.1-0.5 s on a busy box) and ICE + DTLS (a LAN's 0.1 s; the
# edge of a cell's 1.3-4.4 s). A LAN's is the instant first frame, and stays; skipped at
# 0.4 s, ten joins in a second forced 4-5 IDRs where the budget is 3.
LIVE_LAG_S = 1.0


class ViewerFeed:
    """One viewer's packets, read from a Subscriber of its current Rendition."""

    def __init__(
        self,
        rendition: Rendition,
        name: str,
        forms: Mapping[str, Callable[[bytes], Any]] | None = None,
    ) -> None:
        self.name = name
        # The transport forms its viewer reads (WebRTC: RTP payloads): every rendition this
        # feed subscribes to builds them once per packet (Rendition.want).
        self.forms = dict(forms or {})
        self._wakeup: asyncio.Future[None] | None = None
        self.subscriber = self._subscribe(rendition)
        self.pending: Subscriber | None = None
        self.switches = 0
        self.ended = False
        self._offset = 0  # added to timestamps since the last swap
        self._last: tuple[int, int] | None = None  # (timestamp delivered, arrival ns)

    @property
    def rendition(self) -> Rendition:
        return self.subscriber.rendition

    @property
    def dropped(self) -> int:
        return self.subscriber.dropped + (self.pending.dropped if self.pending else 0)

    @property
    def live(self) -> bool:
        return not self.ended and not self.subscriber.closed

    def switch_to(self, rendition: Rendition) -> None:
        """Moves the viewer to `rendition` at its next keyframe (asked for now)."""
        if self.ended:
            return
        if rendition is self.rendition:
            # Back to where it is before the other rung's keyframe came: stay, stop moving.
            if self.pending is not None:
                self.pending.close()
                self.pending = None
            return
        if self.pending is not None:
            if self.pending.rendition is rendition:
                return
            self.pending.close()
        self.pending = self._subscribe(rendition, switching=True)

    def _subscribe(self, rendition: Rendition, switching: bool = False) -> Subscriber:
        for transport, build in self.forms.items():
            rendition.want(transport, build)
        return rendition.subscribe(self.name, self._wake, switching)

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _swap(self) -> None:
        """The new rendition's keyframe is here: swap, and keep the clock running."""
        assert self.pending is not None
        dropped_old = self.subscriber.dropped
        self.subscriber.close()
        self.subscriber, self.pending = self.pending, None
        self.subscriber.switching = False
        self.subscriber.dropped += dropped_old
        self.switches += 1
        first = self.subscriber.queue[0]
        if self._last is not None:
            elapsed = max(1, (first.arrival_ns - self._last[1]) * CLOCK_RATE // 10**9)
            self._offset = self._last[0] + elapsed - first.rtp_timestamp

    def catch_up(self) -> int:
        """The peer starts receiving: what queued up while ICE and DTLS were under way (1-4 s
        on a far link) is skipped if older than LIVE_LAG_S. Sent, 1.3 s of 360p queued on
        the edge of a cell's 400 kbit/s froze its first seconds. Returns the frames skipped."""
        return self.subscriber.skip_to_live(int(LIVE_LAG_S * 1e9))

    async def next(self) -> tuple[EncodedPacket, int] | None:
        """The next packet and its timestamp on the viewer's continuous 90 kHz clock, or
        None once the feed has ended (closed, or its rendition went away). Called per frame
        per viewer: kept lean."""
        while True:
            if self.ended or self.subscriber.closed:
                self.close()
                return None
            if self.pending is not None and self.pending.queue:
                self._swap()
            item = self.subscriber.pop()
            if item is not None:
                break
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        timestamp = (item.rtp_timestamp + self._offset) & 0xFFFFFFFF
        self._last = (timestamp, item.arrival_ns)
        return item, timestamp

    def close(self) -> None:
        """Unsubscribes; a waiting next() returns None. Safe to call twice."""
        self.ended = True
        self.subscriber.close()
        if self.pending is not None:
            self.pending.close()
        self._wake()
