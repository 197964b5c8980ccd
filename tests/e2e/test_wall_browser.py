"""The control-room wall in Chromium at 1920x1080: four sim streams in a 2x2 grid, every tile
presenting frames on the smallest rung; a tap enlarges one onto the best rung (the relay's
session says so, and the decoded picture is taller), a second tap returns; an operator starts
and stops an incident for the shown streams from the wall; German first, English on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import RelayFactory, wait_for
from tests.e2e.browser import chromium, until

NAMES = ["d1", "d2", "d3", "d4"]
STREAMS = [
    {"name": n, "source": "sim://?size=640x360&fps=10&gop=10", "renditions": ["360p", "240p"]}
    for n in NAMES
]
TILES = """() => Object.fromEntries(Object.entries(window.__wall?.tiles ?? {}).map(([n, t]) =>
  [n, {state: t.state, presented: t.presented, rendition: t.rendition, height: t.height(),
       shown: t.el.getBoundingClientRect().width > 0,
       rect: (({x, y, width, height}) => ({x, y, width, height}))(t.el.getBoundingClientRect()),
       rec: !t.el.querySelector('.tile-rec').hidden}]))"""


def all_live(tiles: dict[str, Any], frames: int = 10) -> bool:
    return set(tiles) == set(NAMES) and all(
        t["state"] == "live" and t["presented"] > frames for t in tiles.values()
    )


async def test_wall_tiles_play_small_and_enlarge_to_the_best_rung(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(STREAMS, recording={"dir": str(tmp_path / "rec")})
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.set_viewport_size({"width": 1920, "height": 1080})
        await page.goto(relay.login_url)
        await page.goto(relay.base_url + "/wall")
        tiles = await until(page, TILES, all_live, 120, "four live tiles")
        assert {t["rendition"] for t in tiles.values()} == {"240p"}
        assert {t["height"] for t in tiles.values()} == {240}
        # 2x2, inside the screen, no overlap.
        rects = [t["rect"] for t in tiles.values()]
        assert len({(r["x"], r["y"]) for r in rects}) == 4
        assert len({r["x"] for r in rects}) == 2 and len({r["y"] for r in rects}) == 2
        for r in rects:
            assert r["x"] >= 0 and r["y"] >= 0
            assert r["x"] + r["width"] <= 1920 and r["y"] + r["height"] <= 1080
            assert r["width"] > 800 and r["height"] > 400
        assert await page.inner_text("#wall-title") == "Lagewand"
        sessions = relay.relay.sessions.sessions.values()
        assert sorted(s.track.rendition.name for s in sessions) == ["240p"] * 4

        # Enlarge d2: one big tile on the best rung, the others paused.
        before = tiles["d2"]["presented"]
        await page.click('.wall-tile[data-stream="d2"]')
        big = await until(
            page,
            TILES,
            lambda t: t["d2"]["height"] == 360 and t["d2"]["presented"] > before + 10,
            60,
            "d2 enlarged on 360p",
        )
        assert big["d2"]["rendition"] == "360p" and big["d2"]["rect"]["width"] > 1800
        assert not any(big[n]["shown"] for n in ("d1", "d3", "d4"))
        await wait_for(
            lambda: [(s.stream, s.track.rendition.name) for s in sessions] == [("d2", "360p")],
            15,
            "the relay holding d2's 360p session only",
        )
        # Tap again: back to the grid, every tile on 240p again.
        await page.click('.wall-tile[data-stream="d2"]')
        tiles = await until(
            page,
            TILES,
            lambda t: all_live(t, 0) and {x["height"] for x in t.values()} == {240},
            90,
            "the grid back",
        )
        assert {t["rendition"] for t in tiles.values()} == {"240p"}

        # An incident for the shown streams, started and stopped from the wall.
        await page.click("#incident-button")
        await until(page, TILES, lambda t: all(x["rec"] for x in t.values()), 20, "REC shown")
        manager = relay.relay.incidents
        running = [i for i in manager.incidents.values() if i.manifest["status"] == "recording"]
        assert len(running) == 1 and running[0].manifest["streams"] == NAMES
        assert await page.inner_text("#incident-button") == "Einsatz beenden"
        await page.click("#incident-button")
        await until(page, TILES, lambda t: not any(x["rec"] for x in t.values()), 30, "stopped")
        assert running[0].manifest["status"] != "recording"

        await page.click("#lang-toggle")
        assert await page.inner_text("#wall-title") == "Control-room wall"
        assert await page.inner_text("#incident-button") == "Start incident"
