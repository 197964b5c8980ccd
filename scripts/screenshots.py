#!/usr/bin/env python3
"""The README's screenshots, made by the relay itself: a relay with sim streams, its pages in
headless Chromium at 1920x1080, written at half size (960 px wide) to docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only wall,kiosk]

A page is one Shot in SHOTS: the file, how to reach the page (a function of the running relay,
which may make what the page needs first, a kiosk link say), and a script that is truthy
once the page shows what the picture is for. Add a Shot to add a page.

privacy.png is two players side by side, of a relay of its own: a fake drone (MPEG-TS over
UDP) loops a clip of the sim scene with two photographs composited in (scikit-image's
astronaut.png and camera.png, faces 90 and 40 px wide); left the unmasked 360p rung, right
the public 240p rung (a static mask and faces = "pixelate"), the video elements only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.relay_process import RelayProcess, free_port  # noqa: E402
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
PRIVACY = "privacy.png"
PRIVATE_MASK = "[[0.62, 0.55], [0.95, 0.55], [0.95, 0.95], [0.62, 0.95]]"  # a garden
# budget_ms = 1000: on a loaded machine the detector may miss 150 ms, and then the picture
# would be the fail-closed one (all coarse blocks) rather than the masked faces.
PRIVATE = f'{{masks = [{PRIVATE_MASK}], faces = "pixelate", budget_ms = 1000}}'
PLAYER_READY = "() => window.__player?.state === 'live' && window.__player.stats.framesDecoded > 60"


def face_clip(path: Path, seconds: float = 4.0, fps: int = 15) -> Path:
    """An MP4 of the sim scene (640x360) with two photographs' faces composited in."""
    from fractions import Fraction

    import av

    from relay.sources.sim_scene import SimScene
    from scripts.bench_privacy import portrait

    scene = SimScene(640, 360, fps)
    people = [
        (portrait("astronaut.png", 90, False), (240, 90)),
        (portrait("camera.png", 40, False), (90, 200)),
    ]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(int(seconds * fps)):
            planes = scene.render(i).to_ndarray(format="yuv420p")  # Y over U over V rows
            for face, (x, y) in people:
                h, w = face.shape  # luma only: the scene's tint over a grey photograph
                planes[y : y + h, x : x + w] = face
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


async def ready(page: Any, script: str) -> bool:
    """The page's readiness script; False while the page is still navigating (the kiosk's
    link lands on /s/… and moves on to its page, which destroys the first one's context)."""
    from playwright.async_api import Error

    try:
        return bool(await page.evaluate(script))
    except Error as exc:
        if "context was destroyed" not in str(exc):
            raise
        return False


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
                while not await ready(page, shot.ready):
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


def shoot_privacy(out: Path) -> None:
    """privacy.png: the unmasked and the public rung of one stream, side by side."""
    import cv2

    port = free_port(socket.SOCK_DGRAM)
    streams = f"""
[[streams]]
name = "drohne-privat"
source = "udp://127.0.0.1:{port}"
renditions = ["360p", {{name = "240p", privacy = {PRIVATE}}}]
public_rendition = "240p"
"""
    relay = RelayProcess(streams, prefix="screenshots-")
    relay.launch("screenshots")
    with tempfile.TemporaryDirectory(prefix="screenshots-") as folder:
        clip = face_clip(Path(folder) / "faces.mp4")
        drone = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "fake_drone.py"), f"udp://127.0.0.1:{port}"]
            + ["--file", str(clip), "--gop", "15"],
            stdout=subprocess.DEVNULL,
        )
        try:
            relay.wait_ready(60, live=True)
            halves = asyncio.run(rung_pages(relay, Path(folder)))
        finally:
            drone.terminate()
            drone.wait(10)
            relay.close()
        target = out / PRIVACY
        side_by_side = [picture_only(cv2.imread(str(half))) for half in halves]
        cv2.imwrite(str(target), cv2.hconcat(side_by_side))
    print(f"{target} {target.stat().st_size // 1024} kB")


def picture_only(shot: Any, height: int = 360) -> Any:
    """The video element's screenshot without its letterbox, scaled to `height`."""
    import cv2

    # The element is wider than the 16:9 picture it centres (the bars are not pure black).
    full_h, full_w = shot.shape[:2]
    width = min(full_w, full_h * 16 // 9)
    x0 = (full_w - width) // 2
    picture = shot[:, x0 : x0 + width]
    return cv2.resize(picture, (height * 16 // 9, height), interpolation=cv2.INTER_AREA)


async def rung_pages(relay: RelayProcess, folder: Path) -> list[Path]:
    """The player of the privacy stream on its unmasked and on its public rung."""
    from playwright.async_api import async_playwright

    halves = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for rung in ("360p", "240p"):
            # The picture alone, 640 px wide (the player's own controls are in the others).
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            page = await context.new_page()
            await page.goto(f"{relay.base_url}/login?token={relay.token}")
            await page.goto(f"{relay.base_url}/play/drohne-privat?rendition={rung}")
            deadline = time.monotonic() + 120
            while not await ready(page, PLAYER_READY):
                if time.monotonic() > deadline:
                    raise SystemExit(f"screenshots: {PRIVACY}: the {rung} player never got ready")
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)
            halves.append(folder / f"{rung}.png")
            await page.locator("video").screenshot(path=str(halves[-1]))
            await context.close()
        await browser.close()
    return halves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", default="", help="comma-separated file stems: wall,kiosk,privacy")
    args = parser.parse_args()
    wanted = {x for x in args.only.split(",") if x}
    shots = [s for s in SHOTS if not wanted or Path(s.file).stem in wanted]
    privacy = not wanted or Path(PRIVACY).stem in wanted
    if not shots and not privacy:
        names = [Path(s.file).stem for s in SHOTS] + [Path(PRIVACY).stem]
        parser.error(f"--only names none of {', '.join(names)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if shots:
        asyncio.run(shoot(shots, args.out))
    if privacy:
        shoot_privacy(args.out)


if __name__ == "__main__":
    main()
