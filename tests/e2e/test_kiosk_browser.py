"""The kiosk screen in Chromium: no controls, the public rung's picture live, back by itself
after the relay was killed and restarted (same port, same data folder: the link and the
screen's session are persisted), dark within seconds of its link being revoked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from scripts.relay_process import RelayProcess
from tests.api.test_access import call
from tests.conftest import RelayFactory
from tests.e2e.browser import chromium, until
from tests.e2e.test_kiosk_links import AUTH, STREAMS, make_kiosk

STREAM_TOML = """
[[streams]]
name = "rathaus"
source = "sim://?size=640x360&fps=15&gop=15"
renditions = ["360p", {name = "240p", privacy = {masks = [[[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]]}}]
public_rendition = "240p"
"""
KIOSK = "() => ({state: window.__kiosk?.state, presented: window.__kiosk?.tile?.presented ?? 0,\
 sessions: window.__kiosk?.tile?.sessions ?? 0, height: document.getElementById('video')\
.videoHeight, picture: !!document.getElementById('video').srcObject})"
# Anything a person could press, type into or tab to.
CONTROLS = "() => document.querySelectorAll('button, input, select, textarea, a, [tabindex],\
 [contenteditable], video[controls]').length"


async def open_kiosk(context: Any, url: str) -> Any:
    page = await context.new_page()
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await page.goto(url)  # mints the screen's session, then reloads itself as the kiosk
    return page


async def test_kiosk_comes_back_by_itself_after_a_relay_restart() -> None:
    relay = RelayProcess(STREAM_TOML, role="operator", prefix="kiosk-restart-")
    try:
        relay.start()
        await asyncio.to_thread(relay.wait_ready, 90, True)
        status, raw, _ = relay.call(
            "POST", "/api/share", {"kind": "kiosk", "streams": ["rathaus"], "title": "Rathaus"}
        )
        assert status == 201, raw
        url = json.loads(raw)["url"]
        async with chromium() as context:
            page = await open_kiosk(context, url)
            live = await until(
                page, KIOSK, lambda k: k["state"] == "live" and k["presented"] > 10, 60, "live"
            )
            assert live["height"] == 240  # the public rung, not the 360p one
            assert await page.evaluate(CONTROLS) == 0
            assert await page.inner_text("#state") == "LIVE"
            assert await page.inner_text("#brigade") == "Rathaus"
            relay.proc.kill()  # type: ignore[union-attr]
            await asyncio.to_thread(relay.proc.wait)  # type: ignore[union-attr]
            gone = await until(
                page, KIOSK, lambda k: k["state"] in ("noconn", "lost"), 30, "the loss shown"
            )
            await page.wait_for_timeout(3000)  # the relay stays away a while
            down = await page.evaluate(KIOSK)
            assert down["state"] == "noconn", down  # the relay does not answer at all
            assert await page.inner_text("#state") == "Keine Verbindung"
            relay.start()  # same port, same data folder
            await asyncio.to_thread(relay.wait_ready, 90, True)
            back = await until(
                page,
                KIOSK,
                lambda k: k["state"] == "live" and k["presented"] > down["presented"] + 10,
                90,
                "the picture back without a touch",
            )
            assert back["sessions"] > gone["sessions"] and back["height"] == 240
            assert page.url == url  # never left the kiosk page (no error page, no login)
    finally:
        relay.close()


async def test_a_revoked_kiosk_loses_its_picture_within_seconds(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    status, link = await make_kiosk(relay, streams=["nord"])
    assert status == 201, link
    async with chromium() as context:
        page = await open_kiosk(context, link["url"])
        await until(page, KIOSK, lambda k: k["state"] == "live" and k["presented"] > 5, 60, "live")
        status, _ = await call(
            relay, "DELETE", f"/api/share/{link['id']}", AUTH["tokens"][0]["token"]
        )
        assert status == 200
        dark = await until(page, KIOSK, lambda k: k["state"] == "gone", 10, "the screen dark")
        assert not dark["picture"]
        assert await page.inner_text("#state") == "Dieser Link gilt nicht mehr"
        assert not relay.relay.sessions.sessions  # no WHEP session left for the link


async def test_a_kiosk_cycles_through_its_streams(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    status, link = await make_kiosk(relay, cycle_s=5)
    assert status == 201, link
    async with chromium() as context:
        page = await open_kiosk(context, link["url"])
        await until(
            page,
            "() => document.getElementById('stream').textContent",
            lambda s: s == "nord",
            30,
            "the first stream",
        )
        await until(
            page,
            "() => document.getElementById('stream').textContent",
            lambda s: s == "sued",
            30,
            "the second stream",
        )
        await until(page, KIOSK, lambda k: k["state"] == "live", 30, "the second one live")
