"""A viewer's video track: hands a rendition's encoded packets to aiortc as they are.

aiortc packetizes an av.Packet without encoding it, so a viewer costs packetization (shared,
see packetize.py) and encryption only, never an encoder (ARCHITECTURE rule 1).

The track can move its viewer to another rendition without renegotiation: it subscribes to
the new one, keeps sending the old one until the new one's keyframe is there, then swaps.
RTP timestamps stay continuous across the swap.
"""

from __future__ import annotations

import asyncio

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from relay.fanout.rendition import Rendition, Subscriber
from relay.media.access_unit import CLOCK_RATE
from relay.transcode.encoder import EncodedPacket
from relay.webrtc.packetize import PrepacketizedEncoder


class RenditionTrack(MediaStreamTrack):
    """One viewer's track, reading from a Subscriber of its current Rendition."""

    kind = "video"

    def __init__(self, rendition: Rendition, name: str) -> None:
        super().__init__()
        self.name = name
        self.encoder = PrepacketizedEncoder()  # the sender's, so it packs nothing itself
        self._wakeup: asyncio.Future[None] | None = None
        self.subscriber = rendition.subscribe(name, self._wake)
        self.pending: Subscriber | None = None
        self.switches = 0
        self.retransmits = 0  # packets resent on the viewer's NACK
        self._offset = 0  # added to RTP timestamps since the last swap
        self._last: tuple[int, int] | None = None  # (rtp timestamp sent, arrival ns)

    @property
    def rendition(self) -> Rendition:
        return self.subscriber.rendition

    @property
    def dropped(self) -> int:
        return self.subscriber.dropped + (self.pending.dropped if self.pending else 0)

    def switch_to(self, rendition: Rendition) -> None:
        """Moves the viewer to `rendition` at its next keyframe (asked for now)."""
        if rendition is self.rendition or self.readyState != "live":
            return
        if self.pending is not None:
            if self.pending.rendition is rendition:
                return
            self.pending.close()
        self.pending = rendition.subscribe(self.name, self._wake, switching=True)

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _next(self) -> EncodedPacket | None:
        if self.pending is not None and self.pending.queue:
            # The new rendition's keyframe is here: swap, and keep the RTP clock running.
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
        return self.subscriber.pop()

    async def _next_item(self) -> tuple[EncodedPacket, int]:
        """The next packet to send and its RTP timestamp; raises MediaStreamError once the
        track has ended."""
        while True:
            if self.readyState != "live" or self.subscriber.closed:
                self.stop()
                raise MediaStreamError
            item = self._next()
            if item is not None:
                break
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        timestamp = (item.rtp_timestamp + self._offset) & 0xFFFFFFFF
        self._last = (timestamp, item.arrival_ns)
        return item, timestamp

    async def next_payloads(self) -> tuple[list[bytes], int]:
        """The lean send loop's source (rtp_send.py): the shared RTP payloads of the next
        packet and its RTP timestamp."""
        item, timestamp = await self._next_item()
        return item.payloads, timestamp

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        """aiortc's own send loop's source (when the lean one is unavailable)."""
        item, timestamp = await self._next_item()
        self.encoder.expect(item.packet, item.payloads, timestamp)
        return item.packet

    def stop(self) -> None:
        super().stop()
        self.subscriber.close()
        if self.pending is not None:
            self.pending.close()
        self._wake()
