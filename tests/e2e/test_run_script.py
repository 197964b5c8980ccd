"""The README's promise: scripts/run serves the demo stream, and its printed URL plays in
Chromium; the player gets its picture back by itself after the relay restarts."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port
from tests.e2e.browser import chromium
from tests.e2e.test_browser import poll

ROOT = Path(__file__).resolve().parents[2]


async def read_url(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(proc.stdout.readline)
        match = re.search(r"open (http://\S+)", line)
        if match:
            return match.group(1)
        if not line and proc.poll() is not None:
            break
    raise AssertionError("scripts/run printed no URL")


def start(args: list[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
        cwd=cwd,
    )


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    return proc.wait(timeout=20)


async def test_scripts_run_url_plays_demo_in_chromium(tmp_path: Path) -> None:
    port = free_port()
    # From an empty folder, as on a fresh clone: no admin token yet, nothing configured.
    proc = start([str(ROOT / "scripts" / "run"), "--port", str(port)], cwd=tmp_path)
    try:
        url = await read_url(proc, timeout=600)  # a fresh clone installs first
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        assert url == f"http://127.0.0.1:{port}/login?token={token}"
        assert (tmp_path / "data" / "admin-token").stat().st_mode & 0o777 == 0o600
        async with chromium() as context:
            page = await context.new_page()  # type: ignore[attr-defined]
            await page.goto(url)
            # Logged in, and the token is out of the address bar.
            assert page.url == f"http://127.0.0.1:{port}/"
            # Through the UI as a person would: the demo card, then the player.
            deadline = time.monotonic() + 15
            while not await page.evaluate("() => !!document.querySelector('a.card')"):
                assert time.monotonic() < deadline, "no stream card on the start page"
                await asyncio.sleep(0.1)
            await page.click("a.card[data-stream=demo]")
            await poll(page, lambda s: s["w"] > 0 and s["presented"] > 10, 20, "demo to play")
            # Auto starts on 360p (nothing known of the link) and climbs on this clean one.
            await poll(page, lambda s: s["w"] == 1280, 15, "the climb to the 720p rung")
    finally:
        assert stop(proc) == 0


async def test_player_reconnects_after_relay_restart(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "relay", "serve", "--port", str(port)]
    relay = start(cmd, cwd=tmp_path)
    try:
        url = await read_url(relay, timeout=60)
        async with chromium() as context:
            page = await context.new_page()  # type: ignore[attr-defined]
            await page.goto(url)  # logs in; the session outlives the restart (data/)
            await page.goto(f"http://127.0.0.1:{port}/play/demo")
            await poll(
                page,
                lambda s: s["state"] == "live" and s["presented"] > 10,
                20,
                "first live picture",
            )
            stop(relay, signal.SIGKILL)  # the relay box loses power
            await poll(page, lambda s: s["state"] == "lost", 15, "the player to notice")
            relay = start(cmd, cwd=tmp_path)
            assert await read_url(relay, timeout=60) == url  # the same token again
            back = time.monotonic()
            before = (await poll(page, lambda s: True, 1, ""))["presented"]
            await poll(
                page,
                lambda s: s["state"] == "live" and s["presented"] > before + 10,
                20,
                "live again after the restart",
            )
            print(f"player live again {time.monotonic() - back:.1f} s after the relay was back")
    finally:
        stop(relay)


async def test_sigterm_with_viewers_connected_exits_0(tmp_path: Path) -> None:
    from tests.whep_client import WhepViewer

    port = free_port()
    config = tmp_path / "relay.toml"
    token = "sigterm-test-token-0000000"
    config.write_text(
        f'[server]\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
        '[webrtc]\nice_addresses = ["127.0.0.1"]\n'
        '[[streams]]\nname = "demo"\nsource = "sim://?size=640x360"\n'
        'renditions = ["360p"]\n'
        f'[[auth.tokens]]\nname = "t"\ntoken = "{token}"\nrole = "viewer"\n'
        'streams = ["demo"]\n'
    )
    relay = start([sys.executable, "-m", "relay", "serve", "--config", str(config)])
    viewers = [WhepViewer(f"http://127.0.0.1:{port}", "demo", token=token) for _ in range(3)]
    try:
        await read_url(relay, timeout=60)
        for v in viewers:
            await v.start()
        for v in viewers:
            await v.wait_frames(10)
        began = time.monotonic()
        assert stop(relay) == 0
        assert time.monotonic() - began < 10, "shutdown must not hang on open peers"
    finally:
        stop(relay, signal.SIGKILL)
        for v in viewers:
            v.location = None  # the relay is gone: nothing to DELETE
            await v.close()
