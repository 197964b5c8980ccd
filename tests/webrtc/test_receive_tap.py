"""The WHIP receiver's jitter buffer lets a frame go at its marker bit, complete and in order."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from relay.webrtc.receive_tap import MarkerJitterBuffer


def _packet(seq: int, ts: int, data: bytes, marker: bool = False) -> RtpPacket:
    packet = RtpPacket(
        payload_type=102, marker=int(marker), sequence_number=seq % 65536, timestamp=ts
    )
    packet._data = data  # type: ignore[attr-defined]  # what aiortc's depayload sets
    return packet


def test_a_frame_leaves_at_its_marker_not_at_the_next_frame() -> None:
    buffer = MarkerJitterBuffer()
    assert buffer.add(_packet(10, 3000, b"a"))[1] is None
    assert buffer.add(_packet(11, 3000, b"b"))[1] is None
    frame = buffer.add(_packet(12, 3000, b"c", marker=True))[1]
    assert frame is not None and frame.data == b"abc" and frame.timestamp == 3000
    # The next frame starts clean: nothing of the first is emitted twice.
    assert buffer.add(_packet(13, 6000, b"d"))[1] is None
    frame = buffer.add(_packet(14, 6000, b"e", marker=True))[1]
    assert frame is not None and frame.data == b"de"


def test_a_hole_holds_the_frame_until_the_late_packet_fills_it() -> None:
    buffer = MarkerJitterBuffer()
    assert buffer.add(_packet(20, 3000, b"a"))[1] is None
    assert buffer.add(_packet(22, 3000, b"c", marker=True))[1] is None  # 21 is missing
    frame = buffer.add(_packet(21, 3000, b"b"))[1]  # a retransmission (NACK) arrives
    assert frame is not None and frame.data == b"abc"


def test_a_frame_without_marker_leaves_by_aiortcs_next_frame_rule() -> None:
    buffer = MarkerJitterBuffer()
    buffer.add(_packet(30, 3000, b"a"))
    buffer.add(_packet(31, 3000, b"b"))  # a sender that sets no marker bit
    frame = buffer.add(_packet(32, 6000, b"c"))[1]
    assert frame is not None and frame.data == b"ab" and frame.timestamp == 3000
    frame = buffer.add(_packet(33, 6000, b"d", marker=True))[1]
    assert frame is not None and frame.data == b"cd"


def test_sequence_numbers_wrap() -> None:
    buffer = MarkerJitterBuffer()
    assert buffer.add(_packet(65534, 3000, b"a"))[1] is None
    assert buffer.add(_packet(65535, 3000, b"b"))[1] is None
    frame = buffer.add(_packet(65536, 3000, b"c", marker=True))[1]
    assert frame is not None and frame.data == b"abc"
