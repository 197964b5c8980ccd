"""Secure by default: with nobody configured the relay makes an admin token (0600), reuses
it on later starts, browser sessions survive a restart, and a new token ends the old ones."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from relay.api.keys import AUTH
from tests.conftest import RelayFactory, RunningRelay

SIM = {"name": "demo", "source": "sim://?size=320x240&fps=10&gop=10", "renditions": ["360p"]}


async def boot(start_relay: RelayFactory, data: Path) -> tuple[RunningRelay, str]:
    relay = await start_relay([SIM], auth={}, server={"data_dir": str(data)})
    assert relay.app is not None
    token = relay.app[AUTH].bootstrap_token
    assert token is not None
    return relay, token


async def status(relay: RunningRelay, jar: aiohttp.CookieJar, path: str = "/api/me") -> int:
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(relay.base_url + path) as resp:
            return resp.status


async def test_bootstrap_token_is_made_once_and_rotates_with_its_file(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    data = tmp_path / "fresh" / "data"  # the folder does not exist yet
    first, token = await boot(start_relay, data)
    token_file = data / "admin-token"
    assert token_file.read_text().strip() == token and len(token) >= 32
    assert token_file.stat().st_mode & 0o777 == 0o600
    boots = [e for e in first.relay.audit.read() if e["event"] == "token_bootstrap"]
    assert [e["created"] for e in boots] == [True]
    jar = aiohttp.CookieJar(unsafe=True)
    assert await status(first, jar) == 401
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{first.base_url}/login?token={token}") as resp:
            assert str(resp.url) == first.base_url + "/"  # redirected, token gone
    assert await status(first, jar) == 200
    session_id = next(c.value for c in jar if c.key == "relay_session")
    stored = (data / "sessions.json").read_text()
    assert session_id not in stored and len(stored) > 10  # kept as digests only
    assert (data / "sessions.json").stat().st_mode & 0o777 == 0o600
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(first.base_url + "/api/me") as resp:
            me = await resp.json()
    assert me["name"] == "bootstrap-admin" and me["role"] == "admin" and me["publish"] == ["*"]

    # A later start reuses the token, and the browser stays logged in.
    second, again = await boot(start_relay, data)
    assert again == token
    assert await status(second, jar) == 200

    # A new token (the file deleted) ends the sessions the old one opened.
    token_file.unlink()
    third, new = await boot(start_relay, data)
    assert new != token
    assert await status(third, jar) == 401
