"""Headless Chromium (Debian's, driven by Playwright) with the flags WebRTC needs here."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
