"""The operators' marks on the map in Chromium: a mark made on a drone's picture while its
telemetry is fresh becomes a pin in its colour at the ground point it looks at (computed here
by relay.telemetry.footprint, checked in Web Mercator pixels), live, and leaves when the mark
expires or the marks are cleared; a mark without a ground position makes no pin."""

from __future__ import annotations

import math
from typing import Any

from relay.telemetry.footprint import ground_point
from relay.telemetry.model import Telemetry
from tests.api.test_access import call
from tests.conftest import ADMIN_TOKEN, RelayFactory
from tests.e2e.browser import chromium, until
from tests.e2e.test_annotations import colour_near
from tests.e2e.test_annotations_touch import YELLOW
from tests.e2e.test_map import AUTH, MAP, STREAMS, TOLERANCE_PX, P, Q, expected_screen, open_map
from tests.telemetry.test_push import push

PINS = """() => {
  const map = document.getElementById('map').getBoundingClientRect();
  return Object.fromEntries([...document.querySelectorAll('.map-mark')].map(g =>
    [g.dataset.id, {x: map.left + Number(g.dataset.x), y: map.top + Number(g.dataset.y),
                    text: g.textContent}]));
}"""


async def mark(relay: Any, stream: str, **body: Any) -> dict[str, Any]:
    path = f"/api/streams/{stream}/annotations"
    status, made = await call(relay, "POST", path, ADMIN_TOKEN, json=body)
    assert status == 201, made
    return dict(made)


async def test_marks_with_a_ground_position_are_pins_on_the_map(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    assert (await push(relay, P, ADMIN_TOKEN, "p"))[0] == 204
    assert (await push(relay, Q, ADMIN_TOKEN, "q"))[0] == 204  # q says no gimbal: no ground
    async with chromium() as context:
        page = await open_map(context, relay)
        await until(page, MAP, lambda s: len(s["markers"]) == 2, 10, "two drones")
        await page.wait_for_timeout(300)  # the marks' first events have come
        assert await page.evaluate(PINS) == {}
        # p looks east, 45 degrees down from 80.5 m: the picture's centre is 80.5 m east.
        # (Sent again: a mark takes its ground only from a fresh sample, and Chromium's start
        # may have taken longer than the telemetry's stale limit.)
        assert (await push(relay, P, ADMIN_TOKEN, "p"))[0] == 204
        fire = await mark(relay, "p", kind="pin", x=0.5, y=0.5, label="Brandherd", colour="yellow")
        want = ground_point(Telemetry(time=1e9, **P), 0.5, 0.5)
        assert want is not None and fire["ground"] == [
            round(want[0], 7),
            round(want[1], 7),
        ]
        east = math.radians(want[1] - P["lon"]) * 6378137 * math.cos(math.radians(P["lat"]))
        assert abs(east - 80.5) < 0.5
        unplaced = await mark(relay, "q", kind="circle", x=0.5, y=0.5, colour="red")
        assert unplaced["ground"] is None
        pins = await until(page, PINS, lambda p: fire["id"] in p, 5, "the pin")
        assert list(pins) == [fire["id"]] and pins[fire["id"]]["text"] == "Brandherd"
        state = await page.evaluate(MAP)
        x, y = expected_screen(state, *fire["ground"])
        got = pins[fire["id"]]
        assert math.hypot(got["x"] - x, got["y"] - y) <= TOLERANCE_PX, (got, x, y)
        assert got["x"] - state["markers"]["p"]["x"] > 5  # east of the drone, on screen too
        assert await colour_near(page, (x + 7, y - 22), YELLOW)  # the pin's head, its colour
        # A short-lived mark leaves the map by itself; clearing removes the rest.
        brief = await mark(relay, "p", kind="circle", x=0.5, y=0.9, ttl_s=5)
        await until(page, PINS, lambda p: brief["id"] in p, 5, "the short-lived pin")
        await until(page, PINS, lambda p: brief["id"] not in p, 10, "the expired pin gone")
        assert (await call(relay, "DELETE", "/api/streams/p/annotations", ADMIN_TOKEN))[0] == 200
        await until(page, PINS, lambda p: p == {}, 5, "the pins cleared")
