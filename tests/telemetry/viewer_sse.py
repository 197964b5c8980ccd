"""A viewer's side of telemetry: the event stream the player reads, opened with a viewer's
token for the one stream (not an admin's), until an event shows what the test waits for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import TOKENS, RunningRelay
from tests.telemetry.test_push import read_event

VIEWER = "telemetry-viewer-token-0000"


def viewer_auth(stream: str) -> dict[str, Any]:
    """The test tokens and a viewer who may watch `stream` only."""
    tablet = {"name": "tablet", "token": VIEWER, "role": "viewer", "streams": [stream]}
    return {"tokens": [*TOKENS, tablet]}


async def viewer_event(
    relay: RunningRelay, stream: str, check: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, Any]:
    """The first event of `stream`'s telemetry that passes `check`, read as the viewer."""
    url = f"{relay.base_url}/api/streams/{stream}/telemetry/events"
    deadline = time.monotonic() + timeout
    async with relay.http(VIEWER) as http, http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        while True:
            event = await read_event(resp)
            if event is not None and check(event):
                return dict(event)
            assert time.monotonic() < deadline, f"no such event at the viewer; last {event}"
