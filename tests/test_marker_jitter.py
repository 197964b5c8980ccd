"""The measuring viewers' jitter buffer hands a frame on at its last packet, not one frame
later; a frame with a packet missing still waits."""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from tests.marker_jitter import MarkerJitterBuffer


def packet(seq: int, timestamp: int, marker: bool = False) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp, marker=marker)
    p._data = bytes([seq % 256])  # type: ignore[attr-defined]  # as aiortc's depayloader sets
    return p


def frames_out(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, int, bytes]]:
    """(index of the packet whose arrival let the frame out, timestamp, data) per frame."""
    out = []
    for i, p in enumerate(packets):
        _, frame = buffer.add(p)
        if frame is not None:
            out.append((i, frame.timestamp, frame.data))
    return out


# Two frames of three packets, then the first packet of a third.
STREAM = [packet(10, 3000), packet(11, 3000), packet(12, 3000, marker=True),
          packet(13, 6000), packet(14, 6000), packet(15, 6000, marker=True),
          packet(16, 9000)]  # fmt: skip


def test_a_frame_leaves_with_its_last_packet() -> None:
    out = frames_out(MarkerJitterBuffer(capacity=128, is_video=True), STREAM)
    assert out == [(2, 3000, bytes([10, 11, 12])), (5, 6000, bytes([13, 14, 15]))]


def test_aiortc_s_own_buffer_waits_for_the_next_frame() -> None:
    """What the class is for: aiortc's buffer lets each frame out a frame later."""
    out = frames_out(JitterBuffer(capacity=128, is_video=True), STREAM)
    assert [(i, ts) for i, ts, _ in out] == [(3, 3000), (6, 6000)]


def test_a_frame_with_a_packet_missing_waits_for_it() -> None:
    gap = [STREAM[0], STREAM[2], STREAM[3], STREAM[1]]  # 11 retransmitted after 13 came
    out = frames_out(MarkerJitterBuffer(capacity=128, is_video=True), gap)
    assert out == [(3, 3000, bytes([10, 11, 12]))]
