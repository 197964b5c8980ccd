"""Taps an aiortc video receiver: its reassembled H.264 frames, not decoded pictures.

aiortc's RTCRtpReceiver reassembles each frame in its jitter buffer on the event loop and puts
`(codec, JitterFrame)` on a queue.Queue that its decoder thread reads. The relay wants the
original bitstream: the transcoder decodes once, passthrough and recording forward the
publisher's own packets. So a tapped receiver gets a queue of its own (`_AccessUnitTap`)
whose put() hands the frame, already depacketized to Annex B by aiortc (`h264_depayload`),
to a callback. Why this hook and not a Decoder that returns the payload: a Decoder is chosen
by the module-level `get_decoder()` for every receiver of the process (viewers in tests
decode for real), and it runs in the decoder thread, so its output would cross two more
queues (thread -> track -> event loop) before the stream sees it. The tap is per receiver
and adds no hop. aiortc's decoder thread still starts, idles on the empty queue and ends when
the receiver stops (it puts None, which the tap passes on).

aiortc's jitter buffer lets a frame go only when the first packet of the next frame arrives:
one frame interval of delay (33 ms at 30 fps). `MarkerJitterBuffer` lets it go at its RTP
marker bit (the last packet of a frame), when every packet before it is there.

Both replace name-mangled attributes of aiortc 1.16's RTCRtpReceiver (`__decoder_queue`,
`__jitter_buffer`); install_tap() checks that they exist, so an aiortc that renames them
fails loudly at the first publisher instead of silently decoding.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

OnFrame = Callable[[JitterFrame], None]
VIDEO_CAPACITY = 512  # packets, as aiortc's own video jitter buffer


class _AccessUnitTap(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue; see the module docstring."""

    def __init__(self, on_frame: OnFrame) -> None:
        super().__init__()
        self._on_frame = on_frame

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stops: let its idle decoder thread end
            super().put(None)
            return
        _codec, frame = item
        self._on_frame(frame)


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, but a complete frame leaves at its marker bit."""

    def __init__(self) -> None:
        super().__init__(capacity=VIDEO_CAPACITY, is_video=True)
        self._newest: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        late = self._newest is not None and uint16_gt(self._newest, packet.sequence_number)
        if not late:
            self._newest = packet.sequence_number
        # Only a marker, or a late packet that may fill the hole before one, can complete
        # a frame: no scan on the other packets.
        if frame is None and (packet.marker or late):
            frame = self._take_marked_frame()
        return pli, frame

    def _take_marked_frame(self) -> JitterFrame | None:
        if self._origin is None:
            return None
        packets: list[RtpPacket] = []
        for count in range(self._capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                return None  # a hole, or a frame whose marker was lost: aiortc's way
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                return JitterFrame(
                    data=b"".join(p._data for p in packets),  # type: ignore[attr-defined]
                    timestamp=packets[0].timestamp,
                )
        return None


def install_tap(receiver: RTCRtpReceiver, on_frame: OnFrame) -> None:
    """Makes `receiver` hand its reassembled frames to on_frame (on the event loop) instead
    of decoding them. Call before the connection starts the receiver."""
    for name in ("_RTCRtpReceiver__decoder_queue", "_RTCRtpReceiver__jitter_buffer"):
        if not hasattr(receiver, name):
            raise RuntimeError(
                f"aiortc's RTCRtpReceiver has no {name}: the WHIP tap needs aiortc 1.16's receiver"
            )
    receiver._RTCRtpReceiver__decoder_queue = _AccessUnitTap(on_frame)  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__jitter_buffer = MarkerJitterBuffer()  # type: ignore[attr-defined]
