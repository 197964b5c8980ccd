"""A WHIP publisher session turns reassembled frames into access units: pts, keyframes, padding."""

from __future__ import annotations

import time

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterFrame

from relay.media.access_unit import CLOCK_RATE
from relay.sources.whip import WhipInbox
from relay.webrtc.publish import PublisherSession

IDR = (
    b"\x00\x00\x00\x01\x67\x42\xe0\x1f"
    b"\x00\x00\x00\x01\x68\xce"
    b"\x00\x00\x00\x01\x65\x88"
)  # SPS, PPS, IDR slice
SLICE = b"\x00\x00\x00\x01\x41\x9a"


async def _session() -> tuple[PublisherSession, WhipInbox]:
    inbox = WhipInbox("cam")
    inbox.claim("s1")
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("video", direction="recvonly").receiver
    return PublisherSession("s1", "cam", pc, receiver, "127.0.0.1", inbox), inbox


def _units(inbox: WhipInbox) -> list:  # type: ignore[type-arg]
    out = []
    while (item := inbox.next_item(0.0)) is not None:
        out.append(item)
    return out


async def test_frames_become_access_units_with_rtp_pts_and_keyframe_flags() -> None:
    session, inbox = await _session()
    session.on_frame(JitterFrame(IDR, 0))
    session.on_frame(JitterFrame(SLICE, 3000))
    units = _units(inbox)
    assert [(u.pts, u.keyframe, u.data) for u in units] == [(0, True, IDR), (3000, False, SLICE)]
    assert session.keyframes == 1 and inbox.units_in == 2
    await session.pc.close()


async def test_padding_only_frames_never_reach_the_stream() -> None:
    # An empty packet would make the transcoder's decoder drain and refuse all that follows.
    session, inbox = await _session()
    session.on_frame(JitterFrame(b"", 0))
    assert _units(inbox) == [] and session.empty == 1 and session.units == 0
    await session.pc.close()


async def test_a_jump_in_rtp_time_is_reanchored_on_arrival_time() -> None:
    session, inbox = await _session()
    session.on_frame(JitterFrame(IDR, 0))
    started = time.monotonic()
    session.on_frame(JitterFrame(SLICE, 3600 * CLOCK_RATE))  # the publisher's clock jumps 1 h
    elapsed = (time.monotonic() - started + 0.01) * CLOCK_RATE
    units = _units(inbox)
    assert 0 <= units[1].pts <= elapsed + CLOCK_RATE // 10
    await session.pc.close()


async def test_units_of_a_publisher_that_left_are_ignored() -> None:
    session, inbox = await _session()
    assert inbox.release("s1")
    session.on_frame(JitterFrame(IDR, 0))
    assert [type(u).__name__ for u in _units(inbox)] == ["_End"]
    await session.pc.close()
