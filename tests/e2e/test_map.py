"""Headless Chromium: the map page puts each drone where its telemetry says (checked against
Web Mercator computed here, from the page's zoom and origin), with its track and footprint,
shows only the drones the identity may watch, and a tap opens the player, which shows the
altitude the sender sent."""

from __future__ import annotations

import math
import re
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, RelayFactory, RunningRelay
from tests.e2e.browser import chromium, until
from tests.telemetry.test_push import SMALL, VIEWER_P, push

STREAMS = [
    {"name": "p", "source": SMALL, "renditions": ["360p"], "telemetry": "push"},
    {"name": "q", "source": SMALL, "renditions": ["360p"], "telemetry": "push"},
    {"name": "r", "source": SMALL, "renditions": ["360p"]},  # no telemetry: named, not drawn
]
AUTH = {
    "tokens": [
        {
            "name": "admin",
            "token": ADMIN_TOKEN,
            "role": "admin",
            "streams": ["*"],
            "publish": ["*"],
        },
        {"name": "tablet-p", "token": VIEWER_P, "role": "viewer", "streams": ["p"]},
    ]
}
# Two drones about 800 m apart over Munich; p looks 45 degrees down to its right.
P = {
    "lat": 48.1372341,
    "lon": 11.5755312,
    "alt_rel_m": 80.5,
    "heading_deg": 90.0,
    "gimbal_pitch_deg": -45.0,
    "gimbal_yaw_deg": 0.0,
    "hfov_deg": 60.0,
}
Q = {"lat": 48.1420000, "lon": 11.5850000, "alt_rel_m": 120.0, "heading_deg": 200.0}
TOLERANCE_PX = 2.0

MAP = """() => {
  const map = document.getElementById('map');
  const r = map.getBoundingClientRect();
  const markers = {};
  for (const m of document.querySelectorAll('.marker')) {
    const a = m.querySelector('.marker-arrow').getBoundingClientRect();
    markers[m.dataset.stream] = {x: a.left + a.width / 2, y: a.top + a.height / 2,
                                 text: m.textContent, stale: m.dataset.stale};
  }
  const track = [...document.querySelectorAll('polyline.track')]
    .map(p => p.getAttribute('points').split(' ').length);
  return {left: r.left, top: r.top, zoom: Number(map.dataset.zoom),
          ox: Number(map.dataset.originX), oy: Number(map.dataset.originY), markers, track,
          footprints: document.querySelectorAll('polygon.footprint').length,
          note: document.getElementById('map-note').textContent,
          grid: document.querySelectorAll('.grid-label').length};
}"""


def expected_screen(state: dict[str, Any], lat: float, lon: float) -> tuple[float, float]:
    """Where a position belongs on screen: Web Mercator (as XYZ tiles) at the page's zoom,
    less the page's origin, plus the map's place in the window."""
    size = 256 * 2 ** state["zoom"]
    phi = math.radians(lat)
    x = (lon + 180) / 360 * size
    y = (1 - math.log(math.tan(phi) + 1 / math.cos(phi)) / math.pi) / 2 * size
    return state["left"] + x - state["ox"], state["top"] + y - state["oy"]


def assert_at(state: dict[str, Any], name: str, sample: dict[str, float]) -> None:
    want = expected_screen(state, sample["lat"], sample["lon"])
    got = state["markers"][name]
    off = math.hypot(got["x"] - want[0], got["y"] - want[1])
    assert off <= TOLERANCE_PX, f"{name} drawn at {got}, belongs at {want} ({off:.1f} px off)"


async def open_map(context: Any, relay: RunningRelay) -> Any:
    """The map page at 1000x700, logged in as the admin."""
    page = await context.new_page()
    await page.set_viewport_size({"width": 1000, "height": 700})
    await page.goto(relay.login_url)
    await page.goto(relay.base_url + "/map")
    return page


async def test_map_places_both_drones_and_opens_the_player(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    assert (await push(relay, P, ADMIN_TOKEN, "p"))[0] == 204
    assert (await push(relay, {**Q, "lat": Q["lat"] - 0.001}, ADMIN_TOKEN, "q"))[0] == 204
    async with chromium() as context:
        page = await open_map(context, relay)
        await until(page, MAP, lambda s: len(s["markers"]) == 2, 10, "two markers")
        # q moves on: live over the event stream, and its track has two points.
        assert (await push(relay, Q, ADMIN_TOKEN, "q"))[0] == 204
        state = await until(page, MAP, lambda s: 2 in s["track"], 10, "q's track")
        assert_at(state, "p", P)
        assert_at(state, "q", Q)
        # Both in view, far enough apart to tell a swap; r is named as having no telemetry.
        assert abs(state["markers"]["p"]["x"] - state["markers"]["q"]["x"]) > 50
        assert state["zoom"] >= 14 and state["footprints"] == 1 and state["grid"] > 0
        assert "r" in state["note"] and "Ohne Telemetrie" in state["note"]
        assert "81 m" in state["markers"]["p"]["text"]  # whole metres on the map
        assert "120 m" in state["markers"]["q"]["text"]
        # Zoomed in by hand, the drones are still where they belong.
        await page.click("#zoom-in")
        zoomed = await until(page, MAP, lambda s: s["zoom"] == state["zoom"] + 1, 5, "zoom")
        assert_at(zoomed, "p", P)
        assert_at(zoomed, "q", Q)
        # Dragged by hand: the map moves under the finger, the drones with it.
        await page.mouse.move(500, 400)
        await page.mouse.down()
        await page.mouse.move(400, 350, steps=5)
        await page.mouse.up()
        dragged = await until(page, MAP, lambda s: s["ox"] != zoomed["ox"], 5, "the drag")
        assert (dragged["ox"] - zoomed["ox"], dragged["oy"] - zoomed["oy"]) == (100, 50)
        assert_at(dragged, "p", P)
        assert_at(dragged, "q", Q)
        # A tap on a drone opens its player, which shows the altitude the sender sent.
        await page.click("#zoom-fit")
        await until(page, MAP, lambda s: s["zoom"] == state["zoom"], 5, "fit again")
        await page.click(".marker[data-stream=p] .marker-arrow")
        await page.wait_for_url(relay.base_url + "/play/p")
        alt = "() => document.getElementById('tele-altitude').textContent"
        assert await until(page, alt, lambda a: a == "80,5 m über Start", 10, "p's altitude")


async def test_map_shows_only_the_drones_the_viewer_may_watch(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    # p's last word is half a minute old: drawn where it was, marked stale with its age.
    assert (await push(relay, {**P, "time": time.time() - 30}, ADMIN_TOKEN, "p"))[0] == 204
    assert (await push(relay, Q, ADMIN_TOKEN, "q"))[0] == 204
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(f"{relay.base_url}/login?token={VIEWER_P}")
        await page.goto(relay.base_url + "/map")
        state = await until(page, MAP, lambda s: len(s["markers"]) >= 1, 10, "p's marker")
        assert list(state["markers"]) == ["p"] and "q" not in state["note"]
        assert_at(state, "p", P)
        assert state["markers"]["p"]["stale"] == "true"
        age = re.search(r"veraltet \((\d+) s alt\)", state["markers"]["p"]["text"])
        assert age is not None and int(age.group(1)) >= 30, state["markers"]["p"]


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))


def tile_of(lat: float, lon: float, zoom: int) -> tuple[int, int]:
    n, phi = 2**zoom, math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(phi)) / math.pi) / 2 * n)


TILES = """() => {
  const map = document.getElementById('map');
  const r = map.getBoundingClientRect();
  return {zoom: Number(map.dataset.zoom), ox: Number(map.dataset.originX),
          oy: Number(map.dataset.originY), grid: document.querySelectorAll('.grid-label').length,
          tiles: [...document.querySelectorAll('#map-tiles img')].filter(i => i.naturalWidth)
            .map(i => ({src: new URL(i.src).pathname, w: i.naturalWidth,
                        x: i.getBoundingClientRect().left - r.left,
                        y: i.getBoundingClientRect().top - r.top}))};
}"""


async def test_map_draws_the_configured_tiles_in_place(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    for zoom in range(12, 20):  # the tile under p at every zoom the view may fit
        x, y = tile_of(P["lat"], P["lon"], zoom)
        (tmp_path / str(zoom) / str(x)).mkdir(parents=True)
        (tmp_path / str(zoom) / str(x) / f"{y}.png").write_bytes(png(256, 256, (40, 160, 60)))
    tiles = {"tiles": f"{tmp_path}/{{z}}/{{x}}/{{y}}.png", "attribution": "Testkarte"}
    relay = await start_relay(STREAMS, auth=AUTH, map=tiles)
    assert (await push(relay, P, ADMIN_TOKEN, "p"))[0] == 204
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        await page.goto(relay.base_url + "/map")
        state = await until(page, TILES, lambda s: len(s["tiles"]) == 1, 10, "p's tile")
        [shown] = state["tiles"]
        x, y = tile_of(P["lat"], P["lon"], state["zoom"])
        assert shown["src"] == f"/map/tiles/{state['zoom']}/{x}/{y}" and shown["w"] == 256
        # Where Web Mercator puts it: the same frame as the markers.
        assert shown["x"] == pytest.approx(x * 256 - state["ox"], abs=0.5)
        assert shown["y"] == pytest.approx(y * 256 - state["oy"], abs=0.5)
        assert state["grid"] == 0  # tiles instead of the grid
        text = "() => document.getElementById('map-attribution').textContent"
        assert await page.evaluate(text) == "Testkarte"
