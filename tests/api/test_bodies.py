"""JSON bodies are checked by a schema (msgspec, as the config): a bad field is a 400 that
names it; fields a route does not know are ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.api.keys import AUTH
from relay.auth.passwords import hash_password
from tests.api.test_access import PASSWORD, STREAMS, auth_config
from tests.conftest import RelayFactory
from tests.recording.api import call


async def test_login_body_fields_are_checked_and_named(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=auth_config(hash_password(PASSWORD)))
    url = relay.base_url + "/api/login"
    async with aiohttp.ClientSession() as http:
        for body, field in (
            ({"name": "leitstelle"}, "password"),
            ({"name": "x" * 65, "password": PASSWORD}, "name"),
            ({"name": "leitstelle", "password": 12345678}, "password"),
        ):
            async with http.post(url, json=body) as resp:
                answer = await resp.json()
                assert resp.status == 400 and answer["error"] == "bad_login", answer
                assert answer["reason"].startswith(f"{field}: "), answer  # names the field
        # A field the route does not know is no error (clients may send more).
        body = {"name": "leitstelle", "password": PASSWORD, "remember": True}
        async with http.post(url, json=body) as resp:
            assert resp.status == 200, await resp.text()


INF = 1e400  # json.dumps writes Infinity, which Python's json reads back: refused by range
CASES: dict[str, list[tuple[dict[str, Any], str, str]]] = {
    "/api/incidents": [
        ({"title": "   ", "streams": ["a"]}, "bad_title", "title"),
        ({"title": "t", "streams": ["a" * 65]}, "bad_streams", "streams[0]"),
        ({"title": "t", "streams": [5]}, "bad_streams", "streams[0]"),
        ({"title": "t", "streams": ["a"], "note": "n" * 2001}, "bad_note", "note"),
    ],
    "/api/incidents/{id}/clips": [
        ({"stream": "a", "from_s": 0, "to_s": INF}, "bad_range", "to_s"),
        ({"stream": "a", "from_s": -1, "to_s": 2}, "bad_range", "from_s"),
        ({"stream": "a", "to_s": 2}, "bad_range", "from_s"),
        ({"stream": 5, "from_s": 0, "to_s": 2}, "bad_stream", "stream"),
    ],
    "/api/incidents/{id}/snapshots": [
        ({"stream": "a" * 65}, "bad_stream", "stream"),
        ({}, "bad_stream", "stream"),
    ],
    "/api/incidents/{id}/hold": [({"hold": "yes"}, "bad_hold", "hold")],
    "/api/share": [
        ({"stream": "a", "expires_in_s": 10}, "bad_expiry", "expires_in_s"),
        ({"stream": "a", "expires_in_s": 1.5}, "bad_expiry", "expires_in_s"),
        ({"stream": ["a"], "expires_in_s": 600}, "bad_stream", "stream"),
    ],
}


@pytest.mark.parametrize("route", list(CASES))
async def test_incident_and_share_bodies_are_refused_naming_the_field(
    start_relay: RelayFactory, tmp_path: Path, route: str
) -> None:
    relay = await start_relay(STREAMS, recording={"dir": str(tmp_path / "rec")})
    incident = ""
    if "{id}" in route:
        status, body = await call(
            relay.base_url, "POST", "/api/incidents", {"title": "t", "streams": ["a"]}
        )
        assert status == 201, body
        incident = body["id"]
    for sent, error, field in CASES[route]:
        status, answer = await call(relay.base_url, "POST", route.format(id=incident), sent)
        assert (status, answer["error"]) == (400, error), (sent, answer)
        # Plain words naming the field, not msgspec's ("Expected `int` <= 65535 - at `$.x`").
        assert answer["reason"].startswith(f"{field}: "), (sent, answer)
        assert "Expected" not in answer["reason"] and "`" not in answer["reason"], answer
    expected = {incident} if incident else set()
    assert set(relay.relay.incidents.incidents) == expected  # nothing made by a refused body
    assert not relay.app[AUTH].shares.active()
