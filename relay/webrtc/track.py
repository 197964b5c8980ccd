"""A video track that hands the rendition's encoded packets to aiortc as they are.

aiortc packetizes an av.Packet without encoding it (H264Encoder.pack), so a viewer costs
packetization and encryption only, never an encoder (ARCHITECTURE rule 1).
"""

from __future__ import annotations

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from relay.fanout.rendition import Subscriber
from relay.webrtc.packetize import PrepacketizedEncoder


class RenditionTrack(MediaStreamTrack):
    """One viewer's track: reads from its Subscriber of a Rendition."""

    kind = "video"

    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__()
        self.subscriber = subscriber
        self.encoder = PrepacketizedEncoder()  # the sender's, so it packs nothing itself

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        if self.readyState != "live":
            raise MediaStreamError
        try:
            item = await self.subscriber.get()
        except ConnectionError:
            self.stop()
            raise MediaStreamError from None
        self.encoder.expect(item.packet, item.payloads, item.rtp_timestamp)
        return item.packet

    def stop(self) -> None:
        super().stop()
        self.subscriber.close()
