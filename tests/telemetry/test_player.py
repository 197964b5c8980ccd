"""Headless Chromium: the player shows the telemetry a ground station pushes, in German and
in English, and marks it stale."""

from __future__ import annotations

import time

from tests.conftest import RelayFactory
from tests.e2e.browser import chromium, until
from tests.telemetry.test_push import PUBLISHER, SAMPLE, push, start

TELEMETRY = """() => {
  const box = document.getElementById('telemetry');
  const text = (id) => document.getElementById(id).textContent;
  return {hidden: box.hidden, stale: box.dataset.stale || '', pos: text('tele-position'),
          alt: text('tele-altitude'), hdg: text('tele-heading'), spd: text('tele-speed'),
          age: text('tele-age')};
}"""


async def test_player_shows_pushed_telemetry(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        await page.goto(relay.base_url + "/play/p")
        await until(page, TELEMETRY, lambda s: s["hidden"], 10, "no telemetry box yet")
        assert (await push(relay, {**SAMPLE, "ground_speed_mps": 12.5}, PUBLISHER))[0] == 204
        shown = await until(page, TELEMETRY, lambda s: not s["hidden"], 10, "telemetry shown")
        assert shown["alt"] == "80,5 m über Start"
        assert shown["pos"] == "48,13723° N  11,57553° E"
        assert shown["hdg"] == "93°"
        assert shown["spd"] == "45 km/h"
        assert shown["stale"] == "false" and shown["age"] == ""
        await page.click("#lang-toggle")
        english = await until(page, TELEMETRY, lambda s: "take-off" in s["alt"], 5, "English")
        assert english["alt"] == "80.5 m above take-off"
        assert (await push(relay, {**SAMPLE, "time": time.time() - 30}, PUBLISHER))[0] == 204
        stale = await until(page, TELEMETRY, lambda s: s["stale"] == "true", 10, "stale")
        assert stale["age"].startswith("stale (3")
