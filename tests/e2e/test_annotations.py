"""Live annotations in Chromium: an operator draws a circle on the live picture, a viewer of
the same stream on another page sees it over the video within 200 ms at the same picture
point (the viewer's window letterboxes the picture differently), and the running incident
and its page keep it."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from relay.recording.manifest import read_manifest
from tests.api.test_access import call
from tests.conftest import ADMIN_TOKEN, TOKENS, RelayFactory
from tests.e2e.browser import chromium, until
from tests.e2e.test_browser import poll

SIM = {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=30", "renditions": ["360p"]}
TABLET = "tablet-token-000000000000"
AUTH = {
    "tokens": [
        *TOKENS,
        {"name": "tablet", "token": TABLET, "role": "viewer", "streams": ["demo"]},
    ]
}
BLUE = (0x2D, 0x8C, 0xFF)  # the relay's "blue" (relay.annotations.model.COLOURS), RGB
MARKS = 3  # drawn one after the other: the delay judged by their median

# The picture's rect on the page, computed here (not by the page's own code): object-fit
# contain centres the picture in the <video> element.
PICTURE = """(() => {
  const v = document.getElementById("video");
  const b = v.getBoundingClientRect();
  const s = Math.min(b.width / v.videoWidth, b.height / v.videoHeight);
  const w = v.videoWidth * s, h = v.videoHeight * s;
  return {left: b.left + (b.width - w) / 2, top: b.top + (b.height - h) / 2, width: w, height: h,
          events: window.__annotations ? window.__annotations.events : 0};
})()"""


def at(rect: dict[str, float], x: float, y: float) -> tuple[float, float]:
    """The page point of picture point (x, y)."""
    return rect["left"] + x * rect["width"], rect["top"] + y * rect["height"]


async def colour_near(page: Any, point: tuple[float, float], rgb: tuple[int, int, int]) -> bool:
    """Whether a pixel of the screenshot within 3 px of `point` has the colour `rgb`."""
    png = await page.screenshot()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    x, y = round(point[0]), round(point[1])
    patch = image[y - 3 : y + 4, x - 3 : x + 4].astype(int)[:, :, ::-1]  # BGR -> RGB
    distance = np.abs(patch - np.array(rgb)).sum(axis=2)
    return bool((distance < 60).any())


async def open_player(context: Any, base: str, token: str, size: dict[str, int]) -> Any:
    page = await context.new_page()
    await page.set_viewport_size(size)
    await page.goto(f"{base}/login?token={token}")
    await page.goto(base + "/play/demo")
    await poll(page, lambda s: s["w"] > 0 and s["presented"] > 5, 30, "the player's video")
    await until(page, PICTURE, lambda r: r["events"] >= 1, 10, "the marks' event stream")
    return page


async def test_an_operators_mark_shows_on_a_viewers_page_within_200_ms(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], auth=AUTH, recording={"dir": str(tmp_path / "rec")})
    body = {"title": "Brand Lagerhalle", "streams": ["demo"]}
    status, made = await call(relay, "POST", "/api/incidents", ADMIN_TOKEN, json=body)
    assert status == 201, made
    incident = made["id"]
    # Two browsers (two logins): the viewer's window is tall, so its picture is letterboxed
    # above and below; the operator's is wide.
    async with chromium() as operator_browser, chromium() as viewer_browser:
        operator = await open_player(
            operator_browser, relay.base_url, ADMIN_TOKEN, {"width": 1280, "height": 900}
        )
        viewer = await open_player(
            viewer_browser, relay.base_url, TABLET, {"width": 600, "height": 1000}
        )
        assert await viewer.locator("#annotation-tools").is_hidden()  # a viewer may not mark
        seen = await viewer.evaluate(PICTURE)
        assert seen["top"] > 100, seen  # letterboxed: the picture is not at the video's top
        delays = []
        for i in range(MARKS):
            centre = (0.3 + 0.2 * i, 0.5)
            edge = (centre[0] + 0.08, 0.5)  # the circle's right edge: r = 0.08 picture widths
            seen = await viewer.evaluate(PICTURE)
            assert not await colour_near(viewer, at(seen, *edge), BLUE), "blue before the mark"
            await operator.click("[data-tool=circle]")
            await operator.click("[data-colour=blue]")
            if i == 0:
                await operator.click("text=Brandherd")  # the quick label
            rect = await operator.evaluate(PICTURE)
            await operator.mouse.move(*at(rect, *centre))
            await operator.mouse.down()
            await operator.mouse.move(*at(rect, *edge), steps=4)
            await operator.mouse.up()
            made = await until(
                operator,
                "() => window.__annotations.madeAt",
                lambda m, n=i + 1: len(m) == n,  # type: ignore[misc]
                10,
                "the operator's mark accepted",
            )
            mark_id = max(made, key=lambda k: made[k])
            drawn = await until(
                viewer,
                "() => window.__annotations.drawnAt",
                lambda d, k=mark_id: k in d,  # type: ignore[misc]
                5,
                "the mark on the viewer's page",
            )
            delays.append(drawn[mark_id] - made[mark_id])
            seen = await viewer.evaluate(PICTURE)
            assert await colour_near(viewer, at(seen, *edge), BLUE), (i, seen)
            # At the right place: the circle's inside stays the picture's own.
            assert not await colour_near(viewer, at(seen, centre[0] + 0.04, 0.5), BLUE)
            await operator.click("[data-tool=circle]")  # the tool off again
        print(f"operator gesture end -> viewer drawn, ms: {delays}")
        assert statistics.median(delays) <= 200, delays
        marks = await viewer.evaluate("() => window.__annotations.marks")
        assert [m["label"] for m in marks] == ["Brandherd", "Brandherd", "Brandherd"]
        assert marks[0]["author"] == "test-admin" and marks[0]["colour"] == "blue"
        assert marks[0]["r"] == pytest.approx(0.08, abs=0.01)  # the drag's length

        # The incident keeps them (the manifest on disk), and its page lists them.
        kept = read_manifest(relay.relay.incidents.get(incident).folder)["annotations"]
        assert [(k["action"], k["marks"][0]["kind"]) for k in kept] == [("create", "circle")] * 3
        page = await operator_browser.new_page()  # type: ignore[attr-defined]
        await page.goto(f"{relay.base_url}/incidents#{incident}")
        listed = await until(
            page,
            "() => [...document.querySelectorAll('#incident-marks li')].map(li => li.textContent)",
            lambda items: len(items) == MARKS,
            15,
            "the marks on the incidents page",
        )
        assert "Brandherd blue" in listed[0] and "test-admin" in listed[0], listed
        # Cleared by the operator: gone from the viewer's page too.
        started = time.monotonic()
        await operator.click("text=Alle löschen")
        await until(viewer, "() => window.__annotations.marks.length", lambda n: n == 0, 5, "clear")
        assert time.monotonic() - started < 5
        seen = await viewer.evaluate(PICTURE)
        assert not await colour_near(viewer, at(seen, 0.38, 0.5), BLUE)
