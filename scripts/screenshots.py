#!/usr/bin/env python3
"""The README's screenshots, made by the relay itself: a relay with sim streams, its pages in
headless Chromium at 1920x1080, written at half size (960 px wide) to docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only wall,kiosk]

A page is one Shot in SHOTS: the file, how to reach the page (a function of the running relay,
which may make what the page needs first, a kiosk link say), and a script that is truthy
once the page shows what the picture is for. Add a Shot to add a page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.relay_process import RelayProcess  # noqa: E402
from tests.e2e.browser import CHROMIUM, FLAGS  # noqa: E402

MASK = "{masks = [[[0.05, 0.55], [0.3, 0.55], [0.3, 0.95], [0.05, 0.95]]]}"
STREAMS = "".join(
    f"""
[[streams]]
name = "{name}"
source = "sim://?size=640x360&fps=15&gop=15"
renditions = ["360p", {{name = "240p", privacy = {MASK}}}]
public_rendition = "240p"
"""
    for name in ("drohne-nord", "drohne-sued", "drohne-ost", "drohne-west")
)
WALL_READY = """() => { const t = Object.values(window.__wall?.tiles ?? {});
  return t.length === 4 && t.every((x) => x.state === 'live' && x.presented > 30); }"""
KIOSK_READY = "() => window.__kiosk?.state === 'live' && window.__kiosk.tile.presented > 30"


def kiosk_url(relay: RelayProcess) -> str:
    """A kiosk link for one stream (the city hall's screen)."""
    body = {"kind": "kiosk", "streams": ["drohne-nord"], "title": "Feuerwehr Musterstadt"}
    status, raw, _ = relay.call("POST", "/api/share", body)
    if status != 201:
        raise SystemExit(f"screenshots: no kiosk link: {status} {raw!r}")
    url: str = json.loads(raw)["url"]
    return url


@dataclass(frozen=True)
class Shot:
    file: str
    url: Callable[[RelayProcess], str]
    ready: str
    settle_s: float = 1.0  # after ready: a few more frames, the clock ticking over


SHOTS = [
    Shot("wall.png", lambda r: r.base_url + "/wall", WALL_READY),
    Shot("kiosk.png", kiosk_url, KIOSK_READY),
]


async def shoot(shots: list[Shot], out: Path) -> None:
    from playwright.async_api import async_playwright

    relay = RelayProcess(STREAMS, prefix="screenshots-")
    relay.launch("screenshots", live=True)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            # 1920x1080 laid out, written at 960x540: small files, still readable.
            context = await browser.new_context(
                viewport={"width": 1920, "height": 1080}, device_scale_factor=0.5
            )
            page = await context.new_page()
            await page.goto(f"{relay.base_url}/login?token={relay.token}")
            for shot in shots:
                await page.goto(shot.url(relay))
                deadline = time.monotonic() + 120
                while not await page.evaluate(shot.ready):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"screenshots: {shot.file}: the page never got ready")
                    await asyncio.sleep(0.5)
                await asyncio.sleep(shot.settle_s)
                target = out / shot.file
                await page.screenshot(path=str(target))
                print(f"{target} {target.stat().st_size // 1024} kB")
            await browser.close()
    finally:
        relay.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", default="", help="comma-separated file stems: wall,kiosk")
    args = parser.parse_args()
    wanted = {x for x in args.only.split(",") if x}
    shots = [s for s in SHOTS if not wanted or Path(s.file).stem in wanted]
    if not shots:
        parser.error(f"--only names none of {', '.join(Path(s.file).stem for s in SHOTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(shots, args.out))


if __name__ == "__main__":
    main()
