"""Privacy masks drawn in Chromium (docs/privacy.md): an operator taps a polygon over the
live picture in the player with a finger (touch events), and a share-link viewer (aiortc,
so the public rung) decodes black there from then on while the rest of its picture goes on;
a viewer's player has no tools."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.api.test_access import OPERATOR
from tests.api.test_public_rendition import share_session
from tests.conftest import ADMIN_TOKEN, TOKENS, RelayFactory
from tests.e2e.browser import chromium, until
from tests.e2e.test_annotations import PICTURE, at
from tests.e2e.test_annotations_touch import Finger
from tests.e2e.test_browser import poll

DRAWING = "() => document.querySelector('.mask-layer.drawing') != null"
# The line the player shows under its status bar when the picture stops (a real operator's
# status bar grows like this, or with a badge saying the link is weak, while drawing).
STALLED = """() => {
  const line = document.getElementById('status-detail');
  line.textContent = 'Kein neues Bild seit 3 s – warte auf das Netz';
  return line.getBoundingClientRect().height;
}"""
# Nothing of the player cut off below the window: the stage's content fits it.
FITS = """() => {
  const stage = document.getElementById('stage');
  return stage.scrollHeight <= stage.clientHeight;
}"""
TABLET = "tablet-token-000000000000"
SIM = {
    "name": "demo",
    "source": "sim://?size=640x360&fps=15&gop=15",
    # The operator watches 360p (no masks); the public screen gets 240p.
    "renditions": ["360p", {"name": "240p", "privacy": {"masks": [[[0, 0], [0.1, 0], [0, 0.1]]]}}],
    "public_rendition": "240p",
}
AUTH = {
    "tokens": [
        *TOKENS,
        {"name": "elw", "token": OPERATOR, "role": "operator", "streams": ["*"]},
        {"name": "tablet", "token": TABLET, "role": "viewer", "streams": ["demo"]},
    ]
}
CORNERS = [(0.55, 0.45), (0.9, 0.45), (0.9, 0.9), (0.55, 0.9)]


def placed(rect: dict[str, float]) -> tuple[float, ...]:
    """Where the picture is on the page, to a tenth of a pixel."""
    return tuple(round(rect[k], 1) for k in ("left", "top", "width", "height"))


def square(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    """Luma inside the drawn square (8 px in from its edges) and a band above it."""
    y = frame.to_ndarray(format="gray")
    h, w = y.shape
    x0, x1 = int(0.55 * w) + 8, int(0.9 * w) - 8
    inside = y[int(0.45 * h) + 8 : int(0.9 * h) - 8, x0:x1]
    above = y[int(0.45 * h) - 40 : int(0.45 * h) - 12, x0:x1]
    return inside, above


async def open_player(context: Any, base: str, token: str) -> Any:
    page = await context.new_page()
    await page.set_viewport_size({"width": 1100, "height": 900})
    await page.goto(f"{base}/login?token={token}")
    await page.goto(base + "/play/demo")
    await poll(page, lambda s: s["w"] > 0 and s["presented"] > 5, 30, "the player's video")
    return page


async def test_an_operator_draws_a_mask_the_public_rung_is_black_there(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay([SIM], auth=AUTH)
    public = relay.viewer("demo", token=None, headers=await share_session(relay, "demo"))
    await public.start()
    try:
        await public.wait_frames(10)
        inside, _ = square(public.received.last_frame)
        assert inside.std() > 10, "the scene has texture where the mask will be"
        async with chromium() as browser:
            # A viewer's player: no mask tools.
            viewer = await open_player(browser, relay.base_url, TABLET)
            await viewer.locator("#user-name").wait_for(state="visible", timeout=10000)
            await viewer.wait_for_timeout(1000)  # the tools would come after an API answer
            assert await viewer.locator("#mask-tools").is_hidden()
            assert await viewer.locator(".mask-draw").count() == 0
            await viewer.close()
            page = await open_player(browser, relay.base_url, ADMIN_TOKEN)
            finger = Finger(page)  # a tablet's touches, not a mouse
            await finger.start()
            await finger.tap("text=Maske zeichnen")
            await until(page, DRAWING, bool, 5, "the drawing tools")
            rect = await page.evaluate(PICTURE)
            for k, corner in enumerate(CORNERS):
                if k == 2:  # the status bar grows while drawing: the picture stays put
                    assert await page.evaluate(STALLED) > 10
                    assert placed(await page.evaluate(PICTURE)) == placed(rect)
                await finger.tap_at(*at(rect, *corner))
            await until(page, "() => window.__masks.points", lambda p: len(p) == 4, 5, "corners")
            await finger.tap_at(*at(rect, *CORNERS[0]))  # the first corner again closes it
            await until(page, "() => window.__masks.posted", lambda n: n == 1, 10, "the POST")
            # Drawing done: the picture takes the height left again, nothing is cut off.
            await until(page, FITS, bool, 5, "the page laid out again")
            masks = await until(page, "() => window.__masks.masks", lambda m: m, 10, "the list")
            assert len(masks) == 1 and masks[0]["author"] == "test-admin"
            assert masks[0]["rung"] is None  # every privacy rung
            for (x, y), corner in zip(masks[0]["points"], CORNERS, strict=True):
                assert abs(x - corner[0]) < 0.01 and abs(y - corner[1]) < 0.01, (x, y)
            assert await page.locator(".mask-list li").count() == 1
            frames = public.received.frames
            await public.wait_frames(frames + 5)
            inside, above = square(public.received.last_frame)
            assert inside.mean() < 25 and inside.std() < 4, "black where the mask is"
            assert above.std() > 10, "the picture goes on outside it"
            # Deleted in the player: the public rung shows the scene there again.
            await page.click(".mask-list li >> text=Löschen")
            await until(page, "() => window.__masks.masks.length", lambda n: n == 0, 10, "gone")
            frames = public.received.frames
            await public.wait_frames(frames + 5)
            inside, _ = square(public.received.last_frame)
            assert inside.std() > 10, "unmasked again"
    finally:
        await public.close()
