"""Shared fixtures: a real relay on 127.0.0.1 (port 0), free ports, generated clips."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from relay.api.factory import create_app
from relay.api.keys import RELAY
from relay.api.server import RelayRunner
from relay.app import Relay
from relay.config import parse_config


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Known tokens for tests (auth is on in every test, as in production).
ADMIN_TOKEN = "test-admin-token-000000000000"
TOKENS = [
    {
        "name": "test-admin",
        "token": ADMIN_TOKEN,
        "role": "admin",
        "streams": ["*"],
        "publish": ["*"],
    }
]

# For tests that share a stream without a public rendition (docs/privacy.md): said explicitly.
SHAREABLE = {"shareable_without_privacy": True}


class RunningRelay:
    def __init__(self, base_url: str, relay: Relay, token: str = ADMIN_TOKEN) -> None:
        self.base_url = base_url
        self.relay = relay
        self.token = token  # an admin's, unless the test configured its own [auth]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.login_url = f"{base_url}/login?token={token}"  # logs a browser in
        self.app: web.Application | None = None

    def http(self, token: str | None = None) -> aiohttp.ClientSession:
        """A client session that sends the admin's (or the given) Bearer token."""
        return aiohttp.ClientSession(headers={"Authorization": f"Bearer {token or self.token}"})

    def viewer(self, stream: str, **kwargs: Any) -> Any:
        """A WHEP viewer (tests.whep_client) with this relay's admin token."""
        from tests.whep_client import WhepViewer

        return WhepViewer(self.base_url, stream, **{"token": self.token, **kwargs})

    async def get_json(self, path: str) -> Any:
        async with self.http() as http:
            async with http.get(self.base_url + path) as resp:
                return await resp.json()

    async def stream_status(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json(f"/api/streams/{name}")
        return data


RelayFactory = Callable[..., Awaitable[RunningRelay]]


@pytest.fixture
async def start_relay() -> AsyncIterator[RelayFactory]:
    """start_relay(streams=[...], **sections) runs a relay with loopback ICE, its own data
    folder and the test tokens (or the `auth` section given); closed after."""
    runners: list[web.AppRunner] = []
    folders: list[str] = []

    async def start(streams: list[dict[str, Any]], **sections: Any) -> RunningRelay:
        folders.append(tempfile.mkdtemp(prefix="relay-data-"))
        data = {
            "webrtc": {"ice_addresses": ["127.0.0.1"]},
            "streams": streams,
            "auth": {"tokens": TOKENS},
            **sections,
            "server": {"data_dir": folders[-1], **sections.get("server", {})},
        }
        app = create_app(parse_config(data, "<test>"))
        runner = RelayRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        running = RunningRelay(f"http://127.0.0.1:{port}", app[RELAY])
        running.app = app
        return running

    yield start
    for runner in runners:
        await runner.cleanup()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Waits for a condition with a deadline: the tests' only way of synchronising."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
