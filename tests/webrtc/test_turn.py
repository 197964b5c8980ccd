"""Viewers that reach the relay only through TURN: Debian's coturn, started on free ports
with the REST scheme's shared secret, and an aiortc viewer whose ICE may use relay
candidates only (its host candidates filtered), over TURN's UDP and TCP transports. The
viewer learns the servers and its minted credential as WHEP prescribes: Link headers on
OPTIONS of the endpoint. A wrong credential gets no picture: the TURN path is the only one."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from relay.webrtc.ice_servers import link_header, rest_credential, viewer_servers
from tests.conftest import RelayFactory, RunningRelay
from tests.turn_server import turn_server

SIM = {"name": "demo", "source": "sim://?size=320x240&fps=15&gop=15", "renditions": ["360p"]}
SECRET = f"turnsecret{secrets.token_hex(8)}"
LINK = re.compile(
    r'<([^>]*)>;\s*rel="ice-server"(?:;\s*username="([^"]*)";\s*credential="([^"]*)")?'
)


def test_rest_credential_is_coturns_scheme() -> None:
    """username "<expiry>:<who>", password base64(HMAC-SHA1(secret, username)): coturn's
    use-auth-secret (the test below has the real server accept it)."""
    user, password = rest_credential("north", "tablet-3", 3600, now=1_800_000_000)
    assert user == "1800003600:tablet-3"
    assert password == "YZ5T87/X3lZ7WjU9SYCgVTdZYaw="  # python -c: hmac sha1, base64


def test_viewers_get_stun_as_is_and_turn_with_a_credential() -> None:
    urls = ("stun:10.0.0.1:3478", "turn:10.0.0.1:3478?transport=udp", "turns:t.example:5349")
    servers = viewer_servers(urls, "ops:1", 1_800_000_000, secret="s", ttl_s=60)
    assert [s.urls for s in servers] == [(urls[0],), urls[1:]]
    assert servers[0].username == "" and servers[1].username == "1800000060:ops_1"
    links = link_header(servers)
    assert links[0] == '<stun:10.0.0.1:3478>; rel="ice-server"'
    assert links[1].startswith('<turn:10.0.0.1:3478?transport=udp>; rel="ice-server"; username=')
    assert links[1].endswith('; credential-type="password"') and 's"' not in links[1]
    static = viewer_servers(urls[1:2], "x", 0, username="u", password='p"w')
    assert link_header(static) == [
        '<turn:10.0.0.1:3478?transport=udp>; rel="ice-server"; username="u"; '
        'credential="p\\"w"; credential-type="password"'
    ]


@pytest.fixture
def coturn() -> Iterator[int]:
    with turn_server(SECRET) as port:
        yield port


async def ice_servers_offered(relay: RunningRelay) -> list[RTCIceServer]:
    """What the relay offers this viewer: OPTIONS on the WHEP endpoint, its Link headers."""
    async with relay.http() as http:
        async with http.options(f"{relay.base_url}/whep/demo") as resp:
            assert resp.status == 204
            links = resp.headers.getall("Link", [])
    servers = []
    for link in links:
        match = LINK.match(link)
        assert match, link
        servers.append(RTCIceServer(match[1], match[2], match[3]))
    return servers


@pytest.fixture
async def turn_relay(start_relay: RelayFactory, coturn: int) -> AsyncIterator[RunningRelay]:
    urls = [f"turn:127.0.0.1:{coturn}?transport=udp", f"turn:127.0.0.1:{coturn}?transport=tcp"]
    yield await start_relay(
        [SIM], webrtc={"ice_addresses": ["127.0.0.1"], "ice_servers": urls, "turn_secret": SECRET}
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_viewer_that_reaches_the_relay_only_through_turn_plays(
    turn_relay: RunningRelay, transport: str
) -> None:
    offered = await ice_servers_offered(turn_relay)
    turn = next(s for s in offered if f"transport={transport}" in str(s.urls))
    assert turn.username and turn.username.endswith(":test-admin") and SECRET not in str(offered)
    config = RTCConfiguration([turn], iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    viewer = turn_relay.viewer("demo", configuration=config)
    await viewer.prepare()
    candidates = [
        line for line in viewer.pc.localDescription.sdp.splitlines() if "a=candidate" in line
    ]
    assert candidates and all(" typ relay" in c for c in candidates), candidates
    await viewer.post()
    try:
        await viewer.wait_frames(10, timeout=30)
        counters = viewer.received.counters
        assert counters and counters[-1] > counters[0], "the sim's frame counter advances"
    finally:
        await viewer.close()


async def test_a_wrong_turn_credential_gets_no_picture(turn_relay: RunningRelay) -> None:
    offered = await ice_servers_offered(turn_relay)
    turn = next(s for s in offered if "transport=udp" in str(s.urls))
    wrong = RTCIceServer(turn.urls, turn.username, "d3JvbmcgY3JlZGVudGlhbA==")
    config = RTCConfiguration([wrong], iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    viewer = turn_relay.viewer("demo", configuration=config)
    try:
        await viewer.prepare()
        sdp = viewer.pc.localDescription.sdp
        candidates = [line for line in sdp.splitlines() if "a=candidate" in line]
        assert candidates == [], "no allocation with a wrong credential: no relay candidate"
        await viewer.post()
        await asyncio.sleep(3)
        assert viewer.received.frames == 0
    finally:
        await viewer.close()


async def test_anonymous_callers_get_no_turn_credential(turn_relay: RunningRelay) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{turn_relay.base_url}/whep/demo") as resp:
            assert resp.status == 204 and resp.headers.getall("Link", []) == []
