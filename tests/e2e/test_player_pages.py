"""The pages in Chromium: the player reads its own session's state (never every viewer's),
the incidents page goes back to the login form after a logout, and a phone's player header
has no overlapping buttons."""

from __future__ import annotations

import re

from tests.conftest import TOKENS, RelayFactory
from tests.e2e.browser import chromium, until
from tests.e2e.test_browser import poll

SIM = {
    "name": "demo",
    "source": "sim://?size=640x360&fps=30&gop=30",
    "renditions": ["360p", "240p"],
}
TABLET = "tablet-token-000000000000"
AUTH = {
    "tokens": [
        *TOKENS,
        {"name": "tablet", "token": TABLET, "role": "viewer", "streams": ["demo"]},
    ]
}


async def test_player_asks_for_its_own_session_only(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM], auth=AUTH)
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        requests: list[tuple[str, str]] = []
        page.on("request", lambda r: requests.append((r.method, r.url)))
        await page.goto(f"{relay.base_url}/login?token={TABLET}")  # a viewer, not an operator
        await page.goto(relay.base_url + "/play/demo")
        requests.clear()  # the list page that the login landed on polls /api/streams
        await poll(page, lambda s: s["presented"] > 5, 20, "the player to show video")
        # "auto" names the rung the relay chose, learnt from the session's own state.
        await until(
            page,
            "() => document.getElementById('rendition-select').options[0].textContent",
            lambda label: label == "Auto (360p)",
            10,
            "the rung in the select",
        )
        # The rung started with this viewer (lazy rungs): the session state the player read
        # first may predate the rung's first packet; its next read (every 3 s) has a delay.
        await until(
            page,
            "() => window.__player.relayDelayMs",
            lambda ms: ms is not None and ms > 0,
            10,
            "the relay's delay in the player's state",
        )
        player = await page.evaluate("() => window.__player")
        assert player["currentRung"] == "360p" and player["dropped"] == 0
        own = [u for m, u in requests if m == "GET" and re.search(r"/whep/demo/[\w-]+$", u)]
        assert own, requests
        session = next(iter(relay.relay.sessions.sessions))
        assert own[-1].endswith(f"/whep/demo/{session}")
        # No polling of the stream list: only the stream's own event streams (telemetry,
        # marks), which the player reopens when its delay moves.
        assert not [u for _, u in requests if "/api/streams" in u and "/events" not in u], requests


async def test_incidents_page_returns_to_login_after_logout(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        await page.goto(relay.base_url + "/incidents")
        await until(page, "() => document.body.dataset.state", lambda s: s == "ok", 10, "ok")
        # Logged out in another tab: the next poll gets 401 and the page shows the login form.
        other = await context.new_page()
        await other.goto(relay.base_url + "/")
        async with other.expect_navigation():
            await other.click("#logout-button")
        await until(
            page,
            "() => !!document.getElementById('login-form')",
            bool,
            10,
            "the login form on the incidents page",
        )
        assert page.url == relay.base_url + "/incidents"  # logging in again comes back here


PHONE = {"width": 390, "height": 844}
HEADER_BOXES = """() => [...document.querySelectorAll('header.topbar > *')]
  .filter((e) => !e.hidden && e.getClientRects().length)
  .map((e) => { const r = e.getBoundingClientRect();
                return {id: e.id || e.tagName, x: r.x, y: r.y, w: r.width, h: r.height,
                        // a label wider than its box (an ellipsis is meant to truncate)
                        spills: e.scrollWidth > e.clientWidth + 1 &&
                                getComputedStyle(e).textOverflow !== "ellipsis"}; })"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


async def test_phone_player_header_has_no_overlap(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.set_viewport_size(PHONE)
        await page.goto(relay.login_url)  # an admin: every button of the header is shown
        await page.goto(relay.base_url + "/play/demo")
        await poll(page, lambda s: s["presented"] > 0, 20, "the player to show video")
        await until(page, "() => !document.getElementById('audit-link').hidden", bool, 10, "bar")
        boxes = await page.evaluate(HEADER_BOXES)
        await page.screenshot(path="/tmp/drone-relay-phone-player.png")
        ids = {b["id"] for b in boxes}
        assert {"back-link", "user-name", "audit-link", "logout-button", "lang-toggle"} <= ids
        for i, a in enumerate(boxes):
            assert not a["spills"] and a["w"] > 0, a
            assert a["x"] >= 0 and a["x"] + a["w"] <= PHONE["width"] + 0.5, a
            for b in boxes[i + 1 :]:
                assert not _overlap(a, b), (a, b)
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page scrolls sideways"
