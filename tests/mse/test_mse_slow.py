"""A slow MSE viewer (a WebSocket that does not drain) never holds the rung up: its bounded
queue overflows, it skips to the next keyframe, the drops are counted in the viewer and the
rung; what it sends afterwards resumes on a keyframe and still decodes."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import av

from relay.fanout.rendition import SUBSCRIBER_QUEUE, Rendition
from relay.media.packet import encoded_packet
from relay.mse import fmp4
from relay.mse.hub import MseHub
from tests.media_gen import access_units, make_clip

KEY = fmp4.KEY_FLAGS.to_bytes(4, "big")


def is_key(fragment: bytes) -> bool:
    return fragment[fmp4.MOOF_SIZE - 4 : fmp4.MOOF_SIZE] == KEY


async def test_a_stalled_socket_skips_to_the_next_keyframe(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", 4.0, (320, 240), gop=30, high_bframes=False)
    units = access_units(clip)
    rendition = Rendition("s", "240p", 300_000)
    hub = MseHub()
    viewer = hub.join("s", rendition, "tablet", "127.0.0.1")
    assert rendition.viewers == 1
    sent: list[bytes] = []
    messages: list[dict[str, Any]] = []
    drained = asyncio.Event()

    async def send_bytes(data: bytes) -> None:
        if len(sent) >= 6:  # init + 5 fragments, then the socket stops draining
            await drained.wait()
        sent.append(data)

    async def send_json(message: dict[str, Any]) -> None:
        messages.append(message)

    sender = asyncio.ensure_future(viewer.run(send_bytes, send_json))
    for unit in units:  # the rung publishes on and never waits for the viewer
        rendition.publish(encoded_packet(unit.data, unit.pts, unit.keyframe, time.monotonic_ns()))
        await asyncio.sleep(0)
    assert len(sent) == 6
    assert viewer.dropped > SUBSCRIBER_QUEUE and rendition.dropped == viewer.subscriber.dropped
    drained.set()
    while viewer.subscriber.queue:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    init, fragments = sent[0], sent[1:]
    assert messages[0]["type"] == "init" and init[4:8] == b"ftyp"
    # After the one that was in flight when the socket stalled, the next is a keyframe.
    assert is_key(fragments[0]) and is_key(fragments[6]), [is_key(f) for f in fragments[:8]]
    assert not any(is_key(f) for f in fragments[1:5])
    with av.open(io.BytesIO(init + b"".join(fragments)), format="mp4") as container:
        pictures = list(container.decode(video=0))
    assert len(pictures) == len(fragments) < len(units)
    hub.leave(viewer)
    await asyncio.wait_for(sender, 1)
    assert rendition.viewers == 0 and not hub.rungs and not hub.viewers
