"""Who may do what: a viewer of stream A cannot watch B, share, or read the audit log;
share links expire and can be revoked; CSRF; guessing passwords is rate-limited."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from relay.api.keys import AUTH
from relay.auth import shares
from relay.auth.passwords import hash_password
from tests.conftest import SHAREABLE, RelayFactory, RunningRelay

SMALL = "sim://?size=320x240&fps=10&gop=10"
STREAMS = [
    {"name": "a", "source": SMALL, "renditions": ["360p"], **SHAREABLE},
    {"name": "b", "source": SMALL, "renditions": ["360p"], **SHAREABLE},
]
VIEWER_A = "viewer-a-token-0000000000"
OPERATOR = "operator-token-0000000000"
ADMIN = "admin-token-000000000000000"
PASSWORD = "richtig-geheim"
OFFER = "v=0\r\n"  # refused before it is read when the caller may not watch


def auth_config(password_hash: str = "") -> dict[str, Any]:
    users = (
        [
            {
                "name": "leitstelle",
                "password_hash": password_hash,
                "role": "operator",
                "streams": ["*"],
            }
        ]
        if password_hash
        else []
    )
    return {
        "tokens": [
            {"name": "tablet-a", "token": VIEWER_A, "role": "viewer", "streams": ["a"]},
            {"name": "elw-operator", "token": OPERATOR, "role": "operator", "streams": ["*"]},
            {"name": "chef", "token": ADMIN, "role": "admin", "streams": ["*"]},
        ],
        "users": users,
    }


async def call(
    relay: RunningRelay, method: str, path: str, token: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.request(method, relay.base_url + path, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body


async def test_viewer_of_a_cannot_watch_b_share_or_read_audit(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=auth_config())
    sdp = {"data": OFFER, "headers": {"Content-Type": "application/sdp"}}
    status, body = await call(relay, "POST", "/whep/b", VIEWER_A, **sdp)
    assert status == 403 and body["error"] == "forbidden" and "'b'" in body["reason"]
    status, _ = await call(relay, "POST", "/whep/a", VIEWER_A, **sdp)
    assert status == 400  # allowed: the junk offer itself is what fails
    assert (await call(relay, "GET", "/api/streams/b", VIEWER_A))[0] == 403
    assert (await call(relay, "GET", "/play/b", VIEWER_A))[0] == 403
    status, body = await call(relay, "GET", "/api/streams", VIEWER_A)
    assert [s["name"] for s in body["streams"]] == ["a"]  # b is not even named
    status, body = await call(
        relay, "POST", "/api/share", VIEWER_A, json={"stream": "a", "expires_in_s": 3600}
    )
    assert status == 403 and "operator" in body["reason"]
    assert (await call(relay, "GET", "/api/share", VIEWER_A))[0] == 403
    assert (await call(relay, "GET", "/api/audit", VIEWER_A))[0] == 403
    assert (await call(relay, "GET", "/api/audit", OPERATOR))[0] == 403
    status, body = await call(relay, "GET", "/api/audit", ADMIN)
    assert status == 200 and isinstance(body["events"], list)
    # A wrong token is a 401 that says so, not a silent anonymous request.
    status, body = await call(relay, "GET", "/api/streams", "not-a-token")
    assert status == 401 and body["error"] == "invalid_token"
    # Publishing is a right of its own: an admin without `publish` has none.
    identity = relay.app[AUTH].by_token(ADMIN) if relay.app else None
    assert identity is not None and not identity.may_publish("a")


async def open_link(url: str, jar: aiohttp.CookieJar) -> int:
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(url, allow_redirects=False) as resp:
            return resp.status


async def me(relay: RunningRelay, jar: aiohttp.CookieJar, path: str = "/api/me") -> tuple[int, Any]:
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(relay.base_url + path) as resp:
            return resp.status, await resp.json()


async def test_share_link_grants_one_stream_until_revoked_or_expired(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = await start_relay(STREAMS, auth=auth_config())
    status, link = await call(
        relay, "POST", "/api/share", OPERATOR, json={"stream": "a", "expires_in_s": 3600}
    )
    assert status == 201 and link["url"].startswith(relay.base_url + "/s/")
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    assert await open_link(link["url"], jar) == 200
    status, who = await me(relay, jar)
    assert status == 200 and who["kind"] == "share" and who["streams"] == ["a"]
    assert (await me(relay, jar, "/api/streams/b"))[0] == 403
    assert (await me(relay, jar, "/api/streams/a"))[0] == 200
    listed = (await call(relay, "GET", "/api/share", OPERATOR))[1]["links"]
    assert [x["id"] for x in listed] == [link["id"]]

    # Revoked: the link and the session it opened answer 401, also after a restart of the
    # store (the revocation is on disk).
    status, _ = await call(relay, "DELETE", f"/api/share/{link['id']}", OPERATOR)
    assert status == 200
    assert (await me(relay, jar))[0] == 401
    assert await open_link(link["url"], aiohttp.CookieJar(unsafe=True)) == 401
    assert relay.app is not None
    reloaded = shares.ShareLinks(relay.relay.data_dir)
    with pytest.raises(shares.ShareError, match="revoked"):
        reloaded.verify(link["url"].rsplit("/", 1)[1])

    # Expired: a fresh link, then the clock moves past its end.
    _, fresh = await call(
        relay, "POST", "/api/share", OPERATOR, json={"stream": "a", "expires_in_s": 60}
    )
    jar = aiohttp.CookieJar(unsafe=True)
    assert await open_link(fresh["url"], jar) == 200
    assert (await me(relay, jar))[0] == 200
    later = shares.now() + 61
    monkeypatch.setattr(shares, "now", lambda: later)
    assert (await me(relay, jar))[0] == 401
    assert await open_link(fresh["url"], aiohttp.CookieJar(unsafe=True)) == 401
    # A forged link (another stream under the same signature) never worked.
    forged = fresh["url"].replace("/s/a.", "/s/b.")
    monkeypatch.undo()
    assert await open_link(forged, aiohttp.CookieJar(unsafe=True)) == 401
    events = [e["event"] for e in relay.relay.audit.read()]
    assert events.count("share_created") == 2 and "share_revoked" in events


async def test_cookie_state_changes_need_the_csrf_token(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=auth_config())
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(
            f"{relay.base_url}/login?token={OPERATOR}", allow_redirects=False
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/"
            cookie = resp.headers.getall("Set-Cookie")
            assert any(
                "HttpOnly" in c and "SameSite=Strict" in c and c.startswith("relay_session=")
                for c in cookie
            ), cookie
        share = {"stream": "a", "expires_in_s": 3600}
        async with http.post(relay.base_url + "/api/share", json=share) as resp:
            assert resp.status == 403 and (await resp.json())["error"] == "csrf"
        async with http.get(relay.base_url + "/api/me") as resp:
            csrf = (await resp.json())["csrf"]
        async with http.post(
            relay.base_url + "/api/share", json=share, headers={"X-CSRF-Token": csrf}
        ) as resp:
            assert resp.status == 201
        async with http.post(
            relay.base_url + "/api/logout", headers={"X-CSRF-Token": csrf}
        ) as resp:
            assert resp.status == 200
        async with http.get(relay.base_url + "/api/me") as resp:
            assert resp.status == 401


async def test_password_guessing_is_rate_limited(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=auth_config(hash_password(PASSWORD)))
    statuses = []
    retry_after = None
    async with aiohttp.ClientSession() as http:
        for i in range(10):
            async with http.post(
                relay.base_url + "/api/login", json={"name": "leitstelle", "password": f"guess-{i}"}
            ) as resp:
                statuses.append(resp.status)
                body = await resp.json()
                if resp.status == 429:
                    retry_after = int(resp.headers["Retry-After"])
                    assert body["error"] == "rate_limited"
        # Even the right password waits now: the limit is per address, not per guess.
        async with http.post(
            relay.base_url + "/api/login", json={"name": "leitstelle", "password": PASSWORD}
        ) as resp:
            assert resp.status == 429
    print(f"login statuses {statuses}, Retry-After {retry_after} s")
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 5
    assert retry_after is not None and 1 <= retry_after <= 60
    failed = [e for e in relay.relay.audit.read() if e["event"] == "login_failed"]
    assert len(failed) == 5 and all(e["who"] == "leitstelle" for e in failed)


async def test_whep_joins_are_limited_per_address_generously(start_relay: RelayFactory) -> None:
    """150 joins within seconds from one address (a benchmark, a control room behind one
    NAT) pass by default; a configured limit answers 429 with Retry-After."""
    relay = await start_relay(STREAMS)
    sdp = {"data": OFFER, "headers": {"Content-Type": "application/sdp", **relay.headers}}
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(150):
            async with http.post(relay.base_url + "/whep/a", **sdp) as resp:
                statuses.append(resp.status)
    assert set(statuses) == {400}  # the junk offer, never the limit
    tight = await start_relay(STREAMS, limits={"whep_per_minute": 5})
    sdp["headers"] = {"Content-Type": "application/sdp", **tight.headers}
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(7):
            async with http.post(tight.base_url + "/whep/a", **sdp) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    assert int(resp.headers["Retry-After"]) >= 1
    assert statuses == [400] * 5 + [429] * 2


async def test_logins_that_succeed_do_not_count_and_a_burst_of_guesses_is_cut(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay(STREAMS, auth=auth_config(hash_password(PASSWORD)))
    async with aiohttp.ClientSession() as http:
        for _ in range(7):  # a control room's tablets logging in from behind one address
            async with http.post(
                relay.base_url + "/api/login", json={"name": "leitstelle", "password": PASSWORD}
            ) as resp:
                assert resp.status == 200

        async def guess(i: int) -> int:
            async with http.post(
                relay.base_url + "/api/login", json={"name": "leitstelle", "password": f"g{i}"}
            ) as resp:
                return resp.status

        statuses = await asyncio.gather(*(guess(i) for i in range(12)))
    assert sorted(statuses) == [401] * 5 + [429] * 7, statuses
