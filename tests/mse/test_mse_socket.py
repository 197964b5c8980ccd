"""The WebSocket/MSE fallback (docs/fallback.md): a client gets the init segment and one
fragment per frame, which PyAV decodes into the sim's marked pictures; the access rules are
WHEP's (401 without credentials, 403 for another's stream, a share link only its rung)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import aiohttp
import av
import pytest

from relay.media.frame_marks import read_marks
from relay.mse import fmp4
from tests.api.test_access import call, open_link
from tests.api.test_public_rendition import AUTH as SHARE_AUTH
from tests.api.test_public_rendition import OPERATOR as SHARE_OPERATOR
from tests.api.test_public_rendition import STREAMS as SHARE_STREAMS
from tests.api.test_public_rendition import share, share_session
from tests.conftest import RelayFactory, RunningRelay, wait_for

SIM = {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=60", "renditions": ["360p"]}
OTHER = {"name": "other", "source": "sim://?size=320x240&fps=15&gop=15", "renditions": ["240p"]}
STRANGER = "stranger-token-000000000000"
TOKENS = [
    {"name": "admin", "token": "admin-token-00000000000000", "role": "admin", "streams": ["*"]},
    {"name": "stranger", "token": STRANGER, "role": "viewer", "streams": ["other"]},
]


async def receive(
    relay: RunningRelay, path: str, frames: int, headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], bytes, list[bytes]]:
    """Opens the socket, returns the init message, the init segment and `frames` fragments."""
    async with aiohttp.ClientSession(headers=headers or relay.headers) as http:
        async with http.ws_connect(relay.base_url + path) as ws:
            init = json.loads(await ws.receive_str(timeout=20))
            segment = await ws.receive_bytes(timeout=5)
            fragments = [await ws.receive_bytes(timeout=5) for _ in range(frames)]
    return init, segment, fragments


def decode(segment: bytes, fragments: list[bytes]) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(segment + b"".join(fragments)), format="mp4") as container:
        return list(container.decode(video=0))


async def test_fragments_decode_into_the_marked_pictures(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    init, segment, fragments = await receive(relay, "/api/streams/demo/mse", 45)
    assert init["type"] == "init" and init["rendition"] == "360p"
    assert init["codec"].startswith("avc1.42")  # Constrained Baseline: the rungs' profile
    assert (init["width"], init["height"]) == (640, 360)
    assert segment[4:8] == b"ftyp" and b"avcC" in segment
    # One frame per fragment, the first one a keyframe.
    assert all(f[4:8] == b"moof" and f[fmp4.MOOF_SIZE + 4 : fmp4.MOOF_SIZE + 8] == b"mdat"
               for f in fragments)  # fmt: skip
    assert fragments[0][fmp4.MOOF_SIZE - 4 : fmp4.MOOF_SIZE] == (0x02000000).to_bytes(4, "big")
    pictures = decode(segment, fragments)
    assert len(pictures) == 45 and {(p.width, p.height) for p in pictures} == {(640, 360)}
    counters = [m[0] for p in pictures if (m := read_marks(p.to_ndarray(format="gray")))]
    assert len(counters) >= 40, counters
    assert counters == sorted(counters) and counters[-1] - counters[0] >= 40
    # The decode times never step back nor jump by twice the last sample's duration, which
    # MSE takes for a discontinuity (it drops all up to the next keyframe): the rung's
    # timestamps follow the frames' arrival, and a loaded encoder drops frames.
    times = [int.from_bytes(f[60:68], "big") for f in fragments]  # tfdt: 64-bit time
    durations = [int.from_bytes(f[88:92], "big") for f in fragments]  # trun's one sample
    for i in range(1, len(fragments)):
        assert 0 < times[i] - times[i - 1] < 2 * durations[i - 1], (i, times, durations)
    # The viewer was counted while it watched, and is gone after.
    await wait_for(lambda: relay.relay.streams["demo"].renditions["360p"].viewers == 0, 5, "0")


async def test_viewers_count_and_share_the_rungs_bytes(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    rendition = relay.relay.streams["demo"].renditions["360p"]
    async with relay.http() as http:
        url = relay.base_url + "/api/streams/demo/mse?rendition=360p"
        async with http.ws_connect(url) as one, http.ws_connect(url) as two:
            await wait_for(lambda: rendition.viewers == 2, 10, "two MSE viewers")
            status = await relay.stream_status("demo")
            assert status["viewers"] == 2
            for ws in (one, two):
                assert json.loads(await ws.receive_str(timeout=20))["type"] == "init"
                await ws.receive_bytes(timeout=5)
            # Both get the same fragment objects' bytes: read one each until they meet.
            seen_one = {await one.receive_bytes(timeout=5) for _ in range(30)}
            seen_two = {await two.receive_bytes(timeout=5) for _ in range(30)}
            assert seen_one & seen_two
    await wait_for(lambda: rendition.viewers == 0, 5, "no viewers after close")


async def status_of(relay: RunningRelay, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=headers) as http:
        try:
            async with http.ws_connect(relay.base_url + path):
                return 101, None
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, exc.message


async def test_access_is_wheps(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM, OTHER], auth={"tokens": TOKENS})
    assert (await status_of(relay, "/api/streams/demo/mse", {}))[0] == 401
    stranger = {"Authorization": f"Bearer {STRANGER}"}
    assert (await status_of(relay, "/api/streams/demo/mse", stranger))[0] == 403
    assert (await status_of(relay, "/api/streams/nope/mse", stranger))[0] in (403, 404)
    assert (await status_of(relay, "/api/streams/other/mse?rendition=9p", stranger))[0] == 404
    # A page of another site may not ride on a viewer's credentials.
    cross = {**stranger, "Origin": "http://evil.example"}
    assert (await status_of(relay, "/api/streams/other/mse", cross))[0] == 403
    assert (await status_of(relay, "/api/streams/other/mse", stranger))[0] == 101


async def test_a_share_link_gets_the_public_rung_only(start_relay: RelayFactory) -> None:
    relay = await start_relay(SHARE_STREAMS, auth=SHARE_AUTH)
    headers = await share_session(relay, "public")
    for asked in ("720p", "source"):
        status, _ = await status_of(relay, f"/api/streams/public/mse?rendition={asked}", headers)
        assert status == 403
    init, segment, fragments = await receive(relay, "/api/streams/public/mse", 5, headers)
    assert init["rendition"] == "360p" and (init["width"], init["height"]) == (640, 360)
    assert len(decode(segment, fragments)) == 5


@pytest.mark.parametrize("rendition", ["360p"])
async def test_a_late_viewer_starts_on_a_fresh_keyframe(
    start_relay: RelayFactory, rendition: str
) -> None:
    """The rung's GOP is 2 s; a joining viewer asks for an IDR like a WHEP join does."""
    relay = await start_relay([SIM])
    async with relay.http() as http:
        async with http.ws_connect(relay.base_url + "/api/streams/demo/mse") as first:
            await first.receive_str(timeout=20)
            for _ in range(40):
                await first.receive_bytes(timeout=5)
            started = time.monotonic()
            _, _, fragments = await receive(relay, "/api/streams/demo/mse", 1)
            assert time.monotonic() - started < 1.5
            assert fragments[0][fmp4.MOOF_SIZE - 4 : fmp4.MOOF_SIZE] == b"\x02\x00\x00\x00"


async def test_a_revoked_share_link_ends_its_socket(start_relay: RelayFactory) -> None:
    relay = await start_relay(SHARE_STREAMS, auth=SHARE_AUTH)
    status, link = await share(relay, "public")
    assert status == 201
    jar = aiohttp.CookieJar(unsafe=True)
    assert await open_link(link["url"], jar) == 200
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.ws_connect(relay.base_url + "/api/streams/public/mse") as ws:
            assert json.loads(await ws.receive_str(timeout=20))["rendition"] == "360p"
            revoked = await call(relay, "DELETE", f"/api/share/{link['id']}", SHARE_OPERATOR)
            assert revoked[0] == 200
            started = time.monotonic()
            while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.BINARY:
                assert time.monotonic() - started < 3, "still sending 3 s after the revocation"
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    rendition = relay.relay.streams["public"].renditions["360p"]
    await wait_for(lambda: rendition.viewers == 0, 5, "the viewer gone")
