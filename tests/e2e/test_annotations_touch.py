"""Live annotations on a tablet: an operator pins quick labels with a finger (touch events,
not a mouse), and the city's screen (a share link) shows only the pin made public."""

from __future__ import annotations

from typing import Any

from tests.api.test_access import call
from tests.conftest import ADMIN_TOKEN, SHAREABLE, RelayFactory
from tests.e2e.browser import chromium, until
from tests.e2e.test_annotations import AUTH, PICTURE, SIM, at, colour_near, open_player
from tests.e2e.test_browser import poll

YELLOW = (0xFF, 0xD4, 0x00)
GREEN = (0x2E, 0xE6, 0x6B)
INSIDE, OUTSIDE = (0.25, 0.3), (0.7, 0.6)  # where the public and the team-only pins go


class Finger:
    """Touches through Chromium's DevTools protocol, as a tablet's screen sends them."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.cdp: Any = None

    async def start(self) -> None:
        self.cdp = await self.page.context.new_cdp_session(self.page)
        await self.cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True})

    async def tap_at(self, x: float, y: float) -> None:
        point = {"x": x, "y": y}
        await self.cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]}
        )
        await self.cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    async def tap(self, selector: str) -> None:
        box = await self.page.locator(selector).bounding_box()
        assert box is not None, selector
        await self.tap_at(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


async def pin(tablet: Any, finger: Finger, colour: str, where: tuple[float, float]) -> str:
    """A pin by touch: colour, the quick label (it picks the text tool), a tap on the picture."""
    made = len(await tablet.evaluate("() => window.__annotations.madeAt"))
    await finger.tap(f"[data-colour={colour}]")
    await finger.tap("button:has-text('Brandherd')")
    await until(
        tablet,
        "() => document.querySelector('.annotation-layer.drawing') != null",
        bool,
        5,
        "the text tool",
    )
    await finger.tap_at(*at(await tablet.evaluate(PICTURE), *where))
    ids = await until(
        tablet, "() => window.__annotations.madeAt", lambda m: len(m) == made + 1, 10, "the pin"
    )
    await finger.tap("[data-tool=pin]")  # the tool off again
    return str(max(ids, key=lambda k: ids[k]))


async def test_a_tablet_pins_by_touch_and_share_links_see_only_public_marks(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay([{**SIM, **SHAREABLE}], auth=AUTH)
    body = {"stream": "demo", "expires_in_s": 3600}
    status, made = await call(relay, "POST", "/api/share", ADMIN_TOKEN, json=body)
    assert status == 201, made
    link = made["url"]
    async with chromium() as tablet_browser, chromium() as screen_browser:
        tablet = await open_player(
            tablet_browser, relay.base_url, ADMIN_TOKEN, {"width": 800, "height": 1100}
        )
        finger = Finger(tablet)
        await finger.start()
        screen = await screen_browser.new_page()  # type: ignore[attr-defined]
        await screen.set_viewport_size({"width": 1280, "height": 720})
        await screen.goto(link)
        await poll(screen, lambda s: s["w"] > 0 and s["presented"] > 5, 30, "the share link")
        await until(screen, PICTURE, lambda r: r["events"] >= 1, 10, "the screen's marks")

        team_only = await pin(tablet, finger, "yellow", OUTSIDE)
        await finger.tap("#ann-public")
        public = await pin(tablet, finger, "green", INSIDE)
        marks = await until(
            tablet, "() => window.__annotations.marks", lambda m: len(m) == 2, 5, "both pins"
        )
        assert {m["id"]: (m["kind"], m["label"], m["public"]) for m in marks} == {
            team_only: ("pin", "Brandherd", False),
            public: ("pin", "Brandherd", True),
        }
        seen = await tablet.evaluate(PICTURE)
        assert await colour_near(tablet, at(seen, *OUTSIDE), YELLOW)  # where the finger was

        drawn = await until(
            screen, "() => window.__annotations.drawnAt", lambda d: public in d, 5, "public pin"
        )
        assert team_only not in drawn
        assert [m["id"] for m in await screen.evaluate("() => window.__annotations.marks")] == [
            public
        ]
        seen = await screen.evaluate(PICTURE)
        assert await colour_near(screen, at(seen, *INSIDE), GREEN)
        assert not await colour_near(screen, at(seen, *OUTSIDE), YELLOW)
        assert await screen.locator("#annotation-tools").is_hidden()  # a share link: no tools

        # German first; the English switch translates the tools too.
        assert await tablet.locator("[data-tool=circle]").text_content() == "Kreis"
        await finger.tap("#lang-toggle")
        await until(
            tablet,
            "() => document.querySelector('[data-tool=circle]').textContent",
            lambda text: text == "Circle",
            5,
            "the English tools",
        )
