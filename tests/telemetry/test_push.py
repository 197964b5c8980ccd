"""HTTP push (POST /api/streams/{name}/telemetry) and live delivery (SSE): who may push,
who may read, what is refused and why."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.api.test_access import call
from tests.conftest import ADMIN_TOKEN, RelayFactory, RunningRelay

SMALL = "sim://?size=320x240&fps=10&gop=10"
PUBLISHER = "ground-station-token-00000"
VIEWER_P = "viewer-p-token-0000000000"
VIEWER_Q = "viewer-q-token-0000000000"
AUTH = {
    "tokens": [
        {
            "name": "admin",
            "token": ADMIN_TOKEN,
            "role": "admin",
            "streams": ["*"],
            "publish": ["*"],
        },
        {
            "name": "bodenstation",
            "token": PUBLISHER,
            "role": "viewer",
            "streams": ["p"],
            "publish": ["p"],
        },
        {"name": "tablet-p", "token": VIEWER_P, "role": "viewer", "streams": ["p"]},
        {"name": "tablet-q", "token": VIEWER_Q, "role": "viewer", "streams": ["q"]},
    ]
}
SAMPLE = {"lat": 48.1372341, "lon": 11.5755312, "alt_rel_m": 80.5, "heading_deg": 93.25}


async def start(start_relay: RelayFactory) -> RunningRelay:
    streams = [
        {"name": "p", "source": SMALL, "renditions": ["360p"], "telemetry": "push"},
        {"name": "q", "source": SMALL, "renditions": ["360p"]},
    ]
    return await start_relay(streams, auth=AUTH)


async def push(relay: RunningRelay, body: Any, token: str = PUBLISHER, stream: str = "p") -> Any:
    return await call(relay, "POST", f"/api/streams/{stream}/telemetry", token, json=body)


async def test_push_reaches_the_api_for_watchers_only(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    status, _ = await push(relay, SAMPLE)
    assert status == 204
    status, body = await call(relay, "GET", "/api/streams/p", VIEWER_P)
    assert status == 200
    t = body["telemetry"]
    assert t["source"] == "push" and t["stale"] is False
    for key, value in SAMPLE.items():
        assert t[key] == pytest.approx(value, abs=1e-7)
    assert "alt_msl_m" not in t  # not sent: absent, not zero
    # Location data of an operation: a viewer of another stream gets neither.
    status, _ = await call(relay, "GET", "/api/streams/p", VIEWER_Q)
    assert status == 403
    status, body = await call(relay, "GET", "/api/streams", VIEWER_Q)
    assert [s["name"] for s in body["streams"]] == ["q"]
    # A sample with its own (old) time is stale at once.
    status, _ = await push(relay, {**SAMPLE, "time": time.time() - 10})
    status, body = await call(relay, "GET", "/api/streams/p", VIEWER_P)
    assert body["telemetry"]["stale"] is True and body["telemetry"]["age_s"] >= 10


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"lat": 91.0}, "lat: must be at most 90"),
        ({"lat": 48.0, "altitude": 3}, "altitude"),
        ({"lat": 48.0, "source": "mavlink"}, "source is set by the relay"),
        ({"heading_deg": "north"}, "heading_deg: must be"),
        ([1, 2], "object"),
        ({"lat": 48.0, "time": time.time() + 3600}, "future"),
    ],
)
async def test_bad_samples_answer_400_and_are_counted(
    start_relay: RelayFactory, body: Any, reason: str
) -> None:
    relay = await start(start_relay)
    status, answer = await push(relay, body)
    assert status == 400, answer
    assert reason in answer["reason"]
    hub = relay.relay.streams["p"].telemetry
    assert hub.last is None and sum(hub.bad_input.values()) == 1


async def test_who_may_push_where(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    assert (await push(relay, SAMPLE, token=VIEWER_P))[0] == 403  # may watch, not publish
    assert (await push(relay, SAMPLE, token=ADMIN_TOKEN, stream="nope"))[0] == 404
    status, body = await push(relay, SAMPLE, token=ADMIN_TOKEN, stream="q")
    assert status == 409 and body["error"] == "not_a_push_stream"
    status, body = await call(
        relay,
        "POST",
        "/api/streams/p/telemetry",
        PUBLISHER,
        data=b"{" + b" " * 5000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert status == 413
    status, body = await call(
        relay,
        "POST",
        "/api/streams/p/telemetry",
        PUBLISHER,
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and body["error"] == "bad_json"
    assert relay.relay.streams["p"].telemetry.last is None


async def read_event(resp: aiohttp.ClientResponse) -> Any:
    """The next `data:` event of a text/event-stream."""
    while True:
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert line, "the event stream ended"
        if line.startswith(b"data: "):
            return json.loads(line[6:])


async def test_sse_delivers_samples_at_most_10_hz(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    url = relay.base_url + "/api/streams/p/telemetry/events"
    async with relay.http(VIEWER_Q) as http, http.get(url) as resp:
        assert resp.status == 403
    async with relay.http(VIEWER_P) as http, http.get(url) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        assert await read_event(resp) is None  # nothing yet
        assert (await push(relay, SAMPLE))[0] == 204
        event = await read_event(resp)
        assert event["lat"] == pytest.approx(SAMPLE["lat"], abs=1e-7)
        assert event["source"] == "push"
        # 30 samples pushed as fast as possible: the viewer gets the newest, not all.
        started = time.monotonic()
        for i in range(30):  # a ground station at full rate is no WHIP client: no 429
            assert (await push(relay, {**SAMPLE, "alt_rel_m": 100.0 + i}))[0] == 204
        pushed_for = time.monotonic() - started
        events = []
        while not events or events[-1]["alt_rel_m"] != 129.0:
            assert time.monotonic() - started < 10, "the newest sample never came"
            events.append(await read_event(resp))
        took = time.monotonic() - started
        assert len(events) <= 10 * took + 2, (len(events), took, pushed_for)
        hub = relay.relay.streams["p"].telemetry
        assert hub.dropped >= 30 - len(events) - 1


async def test_sse_shows_the_sample_going_stale(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    assert (await push(relay, SAMPLE))[0] == 204
    hub = relay.relay.streams["p"].telemetry
    url = relay.base_url + "/api/streams/p/telemetry/events"
    async with relay.http(VIEWER_P) as http, http.get(url) as resp:
        assert (await read_event(resp))["stale"] is False
        real = hub.clock
        hub.clock = lambda: real() + 6  # no new sample for 6 s (without sleeping them)
        event = await read_event(resp)  # the heartbeat repeats the latest, now stale
        assert event["stale"] is True and event["lat"] == pytest.approx(SAMPLE["lat"])


async def test_sse_ends_when_the_browser_session_does(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    assert (await push(relay, SAMPLE))[0] == 204
    url = relay.base_url + "/api/streams/p/telemetry/events"
    # A cookie session, as a logged-in page (unsafe: the jar keeps cookies of an IP address).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(f"{relay.base_url}/login?token={VIEWER_P}") as resp:
            assert resp.status == 200
        async with browser.get(relay.base_url + "/api/me") as resp:
            csrf = (await resp.json())["csrf"]
        async with browser.get(url) as events:
            assert (await read_event(events))["lat"] == pytest.approx(SAMPLE["lat"])
            async with browser.post(
                relay.base_url + "/api/logout", headers={"X-CSRF-Token": csrf}
            ) as resp:
                assert resp.status == 200
            # Logged out: no more location data; the stream ends by the next heartbeat.
            deadline = time.monotonic() + 3
            while await asyncio.wait_for(events.content.readline(), 3):
                assert time.monotonic() < deadline, "events still flow after the logout"
