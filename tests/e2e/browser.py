"""Headless Chromium (Debian's, driven by Playwright) with the flags WebRTC needs here."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# docs/measured-facts.md: without the mDNS flag ICE never connects on loopback.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


@asynccontextmanager
async def chromium(extra_flags: list[str] | None = None) -> AsyncIterator[object]:
    """A fresh Chromium with its own profile; skips the test if Chromium is not installed."""
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (scripts/test installs it as root)")
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        async with async_playwright() as p:
            context = await p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=[*FLAGS, *(extra_flags or [])],
            )
            try:
                yield context
            finally:
                await context.close()


async def until(
    page: Any, script: str, check: Callable[[Any], bool], timeout: float, what: str
) -> Any:
    """Evaluates `script` in the page every 0.1 s until `check` holds for its value, which is
    returned. (page.wait_for_function needs eval, which the relay's CSP rightly forbids.) A
    page that reloads under us (a logout does that) is asked again."""
    from playwright.async_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await page.evaluate(script)
        except PlaywrightError as exc:
            value = exc
        else:
            if check(value):
                return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}; last {value!r}"
        await asyncio.sleep(0.1)
