"""The map's API: positions and tracks only for identities that may watch the stream, one
event stream for several drones, tiles from the configured folder, and the [map] config
refused with a reason naming the key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.config import parse_config
from relay.errors import ConfigError
from tests.api.test_access import call
from tests.conftest import ADMIN_TOKEN, RelayFactory, RunningRelay
from tests.telemetry.test_push import AUTH, SAMPLE, SMALL, VIEWER_P, VIEWER_Q, push

STREAMS = [
    {"name": "p", "source": SMALL, "renditions": ["360p"], "telemetry": "push"},
    {"name": "q", "source": SMALL, "renditions": ["360p"]},
]
PNG = b"\x89PNG\r\n\x1a\n" + b"tile"


async def start(start_relay: RelayFactory, **map_table: Any) -> RunningRelay:
    return await start_relay(STREAMS, auth=AUTH, map=map_table)


async def test_map_and_track_for_watchers_only(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    for i in range(3):
        assert (await push(relay, {**SAMPLE, "lat": SAMPLE["lat"] + i * 1e-4}))[0] == 204
    status, body = await call(relay, "GET", "/api/map", VIEWER_P)
    assert status == 200 and body["tiles"]["url"] is None  # no tiles: the page's grid
    [p] = body["drones"]
    assert p["name"] == "p" and p["has_telemetry"] and p["telemetry"]["lat"] == SAMPLE["lat"] + 2e-4
    assert [pt[:2] for pt in p["track"]] == [
        [SAMPLE["lat"] + i * 1e-4, SAMPLE["lon"]] for i in range(3)
    ]
    status, body = await call(relay, "GET", "/api/map", VIEWER_Q)  # q: no telemetry, no p
    assert status == 200 and body["drones"] == [
        {"name": "q", "has_telemetry": False, "telemetry": None, "track": []}
    ]
    status, body = await call(relay, "GET", "/api/streams/p/telemetry/track", VIEWER_P)
    assert status == 200 and len(body["track"]) == 3
    status, _ = await call(relay, "GET", "/api/streams/p/telemetry/track", VIEWER_Q)
    assert status == 403
    status, _ = await call(relay, "GET", "/api/map/events?stream=p", VIEWER_Q)
    assert status == 403
    status, _ = await call(relay, "GET", "/api/map/events?stream=q&stream=p", VIEWER_Q)
    assert status == 403
    status, body = await call(relay, "GET", "/api/map/events", ADMIN_TOKEN)
    assert status == 400
    status, body = await call(relay, "GET", "/api/map/events?stream=nope", ADMIN_TOKEN)
    assert status == 404 and body["error"] == "unknown_stream"
    status, _ = await call(relay, "GET", "/api/map")
    assert status == 401


async def read_event(resp: aiohttp.ClientResponse) -> Any:
    while True:
        line = await asyncio.wait_for(resp.content.readline(), 5)
        if line.startswith(b"data: "):
            return json.loads(line[6:])


async def test_one_event_stream_for_several_drones(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    async with relay.http() as http:
        async with http.get(relay.base_url + "/api/map/events?stream=p&stream=q") as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            first = [await read_event(resp), await read_event(resp)]
            assert first == [{"stream": "p", "telemetry": None}, {"stream": "q", "telemetry": None}]
            assert (await push(relay, SAMPLE))[0] == 204
            event = await read_event(resp)
            assert event["stream"] == "p" and event["telemetry"]["lat"] == SAMPLE["lat"]
            # Without new samples the latest comes again every second (it ages, goes stale).
            again = await read_event(resp)
            assert (
                again["stream"] == "p"
                and again["telemetry"]["age_s"] >= event["telemetry"]["age_s"]
            )
    hub = relay.relay.streams["p"].telemetry
    for _ in range(50):
        if hub.subscribers == 0:
            break
        await asyncio.sleep(0.1)
    assert hub.subscribers == 0  # the viewer left: its subscription is gone


async def test_tiles_from_the_configured_folder(start_relay: RelayFactory, tmp_path: Path) -> None:
    (tmp_path / "12" / "2200").mkdir(parents=True)
    (tmp_path / "12" / "2200" / "1420.png").write_bytes(PNG)
    relay = await start(start_relay, tiles=f"{tmp_path}/{{z}}/{{x}}/{{y}}.png", max_zoom=18)
    status, body = await call(relay, "GET", "/api/map", VIEWER_Q)
    assert body["tiles"] == {
        "url": "/map/tiles/{z}/{x}/{y}",
        "min_zoom": 0,
        "max_zoom": 18,
        "attribution": "",
    }
    async with relay.http(VIEWER_Q) as http:
        async with http.get(relay.base_url + "/map/tiles/12/2200/1420") as resp:
            assert resp.status == 200 and resp.content_type == "image/png"
            assert await resp.read() == PNG
        async with http.get(relay.base_url + "/map/tiles/12/2200/1421") as resp:
            assert resp.status == 404
        async with http.get(relay.base_url + "/map/tiles/12/2200/..%2F..%2Fx") as resp:
            assert resp.status in (400, 404)
    status, _ = await call(relay, "GET", "/map/tiles/12/2200/1420")
    assert status == 401


async def test_a_lan_tile_server_is_allowed_in_the_page_csp(start_relay: RelayFactory) -> None:
    relay = await start(start_relay, tiles_url="http://tiles.lan:8081/{z}/{x}/{y}.png")
    async with relay.http(VIEWER_Q) as http:
        async with http.get(relay.base_url + "/map") as resp:
            assert resp.status == 200
            csp = resp.headers["Content-Security-Policy"]
            assert "img-src 'self' http://tiles.lan:8081 data:" in csp
            assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        async with http.get(relay.base_url + "/") as resp:  # other pages: no tile server
            assert "tiles.lan" not in resp.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        (
            {"tiles": "/t/{z}/{x}/{y}.png", "tiles_url": "http://a/{z}/{x}/{y}.png"},
            "tiles_url",
            "either",
        ),
        ({"tiles": "/t/{z}/{y}.png"}, "tiles", "{x}"),
        ({"tiles": "/t/{z}/{x}/{y}.gif"}, "tiles", ".png"),
        ({"tiles": "/t/../{z}/{x}/{y}.png"}, "tiles", ".."),
        ({"tiles_url": "ftp://a/{z}/{x}/{y}.png"}, "tiles_url", "http(s)://"),
        ({"tiles_url": "https://tiles/{z}/{x}.png"}, "tiles_url", "{y}"),
        ({"min_zoom": 10, "max_zoom": 5}, "min_zoom", "max_zoom"),
        ({"max_zoom": 30}, "max_zoom", "22"),
        ({"tile": "/t/{z}/{x}/{y}.png"}, "tile", "unknown"),
    ],
)
def test_map_config_is_refused_with_its_key(table: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"map": table}, "x.toml")
    message = str(caught.value)
    assert message.startswith(f"x.toml: map.{key}: ") and words in message, message
