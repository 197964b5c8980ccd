"""Bad input gets a clear JSON error with the right status, and nothing breaks."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import ADMIN_TOKEN, RelayFactory

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

SIM = {"name": "demo", "source": "sim://?size=320x240&fps=10&gop=10", "renditions": ["360p"]}


async def _post(
    url: str, body: bytes | str, content_type: str = "application/sdp"
) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(url, data=body, headers={"Content-Type": content_type}) as resp:
            return resp.status, await resp.json()


async def test_unknown_stream_is_404_json(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    status, body = await _post(relay.base_url + "/whep/nosuch", "v=0\r\n")
    assert status == 404
    assert body["error"] == "unknown_stream" and "nosuch" in body["reason"]
    status, body = await _post(relay.base_url + "/whep/demo?rendition=4k", "v=0\r\n")
    assert status == 404 and "4k" in body["reason"]
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(relay.base_url + "/api/streams/nosuch") as resp:
            assert resp.status == 404 and (await resp.json())["error"] == "unknown_stream"
        async with http.get(relay.base_url + "/no/such/page") as resp:
            assert resp.status == 404 and "error" in await resp.json()


@pytest.mark.parametrize(
    "body",
    [
        "hello relay",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",  # SDP without any media
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=rtpmap:111 opus/48000/2\r\n",
        "v=0\r\nm=video x y z\r\n\x00\x01garbage",
    ],
)
async def test_malformed_offer_is_400_with_reason(start_relay: RelayFactory, body: str) -> None:
    relay = await start_relay([SIM])
    status, reply = await _post(relay.base_url + "/whep/demo", body)
    assert status == 400, reply
    assert reply["error"] == "bad_offer" and reply["reason"]
    assert relay.relay.sessions.count() == 0


async def test_wrong_content_type_is_refused(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    status, reply = await _post(relay.base_url + "/whep/demo", '{"sdp": "v=0"}', "application/json")
    assert status == 415 and "application/sdp" in reply["reason"]


async def test_body_over_64k_is_413(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    status, reply = await _post(relay.base_url + "/whep/demo", "v=0\r\n" + "a" * 70_000)
    assert status == 413 and reply["error"]


async def test_status_endpoints(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(relay.base_url + "/healthz") as resp:
            assert resp.status == 200
        async with http.get(relay.base_url + "/api/streams") as resp:
            streams = (await resp.json())["streams"]
        async with http.get(relay.base_url + "/metrics") as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert "relay_stream_state{" in await resp.text()
    assert [s["name"] for s in streams] == ["demo"]
    for key in ("state", "renditions", "viewers", "fps_in", "bitrate_in"):
        assert key in streams[0]
    assert streams[0]["state"] in ("live", "connecting", "offline")
