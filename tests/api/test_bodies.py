"""JSON bodies are checked by a schema (msgspec, as the config): a bad field is a 400 that
names it; fields a route does not know are ignored."""

from __future__ import annotations

import aiohttp

from relay.auth.passwords import hash_password
from tests.api.test_access import PASSWORD, STREAMS, auth_config
from tests.conftest import RelayFactory


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
