"""Several streams' marks on one event stream (/api/annotations/events, for the wall and the
map): each stream's set now and on every change, only the streams the identity may watch,
and share links only the public marks."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from relay.api.routes_annotations import BOARD
from tests.api.test_access import OPERATOR, VIEWER_A, call
from tests.api.test_annotations import CIRCLE, start
from tests.api.test_public_rendition import share_session
from tests.conftest import RelayFactory

FEED = "/api/annotations/events"


async def next_event(resp: aiohttp.ClientResponse) -> tuple[str, list[dict[str, Any]]]:
    """The next event's stream and marks (comment lines skipped)."""
    while True:
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert line, "the event stream ended"
        if line.startswith(b"data: "):
            data = json.loads(line[6:])
            return data["stream"], data["annotations"]


async def mark_on(relay: Any, stream: str, body: dict[str, Any]) -> dict[str, Any]:
    status, made = await call(
        relay, "POST", f"/api/streams/{stream}/annotations", OPERATOR, json=body
    )
    assert status == 201, made
    return dict(made)


async def test_one_event_stream_carries_each_streams_marks(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    on_a = await mark_on(relay, "a", CIRCLE)
    url = f"{relay.base_url}{FEED}?stream=a&stream=b"
    async with relay.http(OPERATOR) as http, http.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        first = dict([await next_event(resp), await next_event(resp)])
        assert [m["id"] for m in first["a"]] == [on_a["id"]] and first["b"] == []
        sent = time.monotonic()
        on_b = await mark_on(relay, "b", {**CIRCLE, "x": 0.2})
        stream, marks = await next_event(resp)
        assert stream == "b" and [m["id"] for m in marks] == [on_b["id"]]
        assert time.monotonic() - sent < 1.0  # at once, not at the next check
        # An expiry tells nobody: the feed notices it by itself.
        assert relay.app is not None
        board = relay.app[BOARD]
        real = board.clock
        board.clock = lambda: real() + 61
        gone = dict([await next_event(resp), await next_event(resp)])
        assert gone == {"a": [], "b": []}


async def test_the_feed_is_scoped_and_share_links_see_public_marks(
    start_relay: RelayFactory,
) -> None:
    relay = await start(start_relay)
    # Viewer a may not watch b: the whole request is refused, not silently narrowed.
    assert (await call(relay, "GET", f"{FEED}?stream=a&stream=b", VIEWER_A))[0] == 403
    assert (await call(relay, "GET", FEED, VIEWER_A))[0] == 400
    assert (await call(relay, "GET", f"{FEED}?stream=zz", OPERATOR))[0] == 404
    public = await mark_on(relay, "a", {**CIRCLE, "public": True})
    await mark_on(relay, "a", {**CIRCLE, "label": "intern"})
    headers = await share_session(relay, "a")
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{relay.base_url}{FEED}?stream=a") as resp:
            stream, marks = await next_event(resp)
            assert stream == "a" and [m["id"] for m in marks] == [public["id"]]
            await mark_on(relay, "a", {**CIRCLE, "label": "noch intern"})
            later = await mark_on(relay, "a", {**CIRCLE, "public": True})
            _, marks = await next_event(resp)
            assert [m["id"] for m in marks] == [public["id"], later["id"]]
