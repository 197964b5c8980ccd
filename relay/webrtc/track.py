"""A viewer's video track: hands the packets of its feed (relay.fanout.feed) to aiortc as
they are.

aiortc packetizes an av.Packet without encoding it, so a viewer costs packetization (built
once per packet for every viewer of the rung, see packetize.py) and encryption only, never
an encoder. Which rendition the viewer gets, and when it switches, is the feed's business.
"""

from __future__ import annotations

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from relay.fanout.feed import ViewerFeed
from relay.fanout.rendition import Rendition, Subscriber
from relay.media.packet import EncodedPacket
from relay.webrtc.pacer import Pacer
from relay.webrtc.packetize import RTP, PrepacketizedEncoder, packetize


class RenditionTrack(MediaStreamTrack):
    """One viewer's track, reading from its ViewerFeed."""

    kind = "video"

    def __init__(self, rendition: Rendition, name: str) -> None:
        super().__init__()
        self.name = name
        self.encoder = PrepacketizedEncoder()  # the sender's, so it packs nothing itself
        self.feed = ViewerFeed(rendition, name, {RTP: packetize})
        # Sends the lean loop's packets spread over time (rtp_send.py); paces to the
        # rung's bitrate until an estimator calls pacer.set_target_bps.
        self.pacer = Pacer(lambda: self.rendition.bitrate, self._request_keyframe, name=name)

    def _request_keyframe(self) -> None:
        self.rendition.request_keyframe()

    @property
    def retransmits(self) -> int:
        """Packets resent on the viewer's NACK."""
        return self.pacer.retransmitted_packets

    @property
    def rendition(self) -> Rendition:
        return self.feed.rendition

    @property
    def subscriber(self) -> Subscriber:
        return self.feed.subscriber

    @property
    def pending(self) -> Subscriber | None:
        return self.feed.pending

    @property
    def switches(self) -> int:
        return self.feed.switches

    @property
    def dropped(self) -> int:
        return self.feed.dropped

    def switch_to(self, rendition: Rendition) -> None:
        """Moves the viewer to `rendition` at its next keyframe (asked for now)."""
        if self.readyState == "live":
            self.feed.switch_to(rendition)

    async def _next_item(self) -> tuple[EncodedPacket, int]:
        """The next packet to send and its RTP timestamp; raises MediaStreamError once the
        track has ended."""
        got = await self.feed.next() if self.readyState == "live" else None
        if got is None:
            self.stop()
            raise MediaStreamError
        return got

    async def next_payloads(self) -> tuple[list[bytes], int, bool]:
        """The lean send loop's source (rtp_send.py): the shared RTP payloads of the next
        packet, its RTP timestamp and whether it is a keyframe. Per frame per viewer: kept
        lean (a stopped track has closed its feed, so the feed's None is the only end)."""
        got = await self.feed.next()
        if got is None:
            self.stop()
            raise MediaStreamError
        payloads: list[bytes] | None = got[0].prepared.get(RTP)
        if payloads is None:  # published before this rendition was asked for RTP
            payloads = got[0].form(RTP, packetize)
        return payloads, got[1], got[0].keyframe

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        """aiortc's own send loop's source (when the lean one is unavailable)."""
        item, timestamp = await self._next_item()
        self.encoder.expect(item.packet, item.form(RTP, packetize), timestamp)
        return item.packet

    def stop(self) -> None:
        super().stop()
        self.feed.close()
        self.pacer.close()
