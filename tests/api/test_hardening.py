"""Hostile input and floods from unauthenticated clients: 4xx with a reason, never a 500;
work per address bounded; nobody anonymous or holding a share link can push others out."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.api.errors import SECURITY_HEADERS
from relay.logs import FORMAT, SafeFormatter
from tests.conftest import SHAREABLE, RelayFactory, RunningRelay, wait_for

SMALL = "sim://?size=320x240&fps=10&gop=10"
STREAMS = [
    {"name": "a", "source": SMALL, "renditions": ["360p"], **SHAREABLE},
    {"name": "cam", "source": "whip:", "renditions": ["360p"]},
]
OPERATOR = "operator-token-0000000000"
VIEWER = "viewer-token-000000000000"
AUTH = {
    "tokens": [
        {
            "name": "elw-operator",
            "token": OPERATOR,
            "role": "operator",
            "streams": ["*"],
            "publish": ["cam"],
        },
        {"name": "tablet", "token": VIEWER, "role": "viewer", "streams": ["a"]},
    ],
    "users": [
        {
            "name": "leitstelle",
            # scrypt of "richtig-geheim" (made with relay.auth.passwords.hash_password)
            "password_hash": "",
            "role": "operator",
            "streams": ["*"],
        }
    ],
}


async def request(
    relay: RunningRelay,
    method: str,
    path: str,
    token: str | None = OPERATOR,
    data: bytes | str | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, Any, Any]:
    """(status, JSON body or None, headers) of one request from the address `source`,
    sent as given (no client-side encoding of the path or body)."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if content_type:
        sent["Content-Type"] = content_type
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.request(
            method,
            relay.base_url + path,
            data=data,
            headers=sent,
            skip_auto_headers=["Content-Type"],
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body, resp.headers


def relay_config(tmp_path: Path, **limits: int) -> dict[str, Any]:
    return {
        "auth": {"tokens": AUTH["tokens"]},
        "recording": {"dir": str(tmp_path / "rec")},
        "limits": limits,
    }


BODY_ROUTES = [
    ("POST", "/api/login", "application/json", None),
    ("POST", "/api/share", "application/json", OPERATOR),
    ("POST", "/api/incidents", "application/json", OPERATOR),
    ("POST", "/api/incidents/{id}/clips", "application/json", OPERATOR),
    ("POST", "/api/incidents/{id}/snapshots", "application/json", OPERATOR),
    ("POST", "/whep/a", "application/sdp", OPERATOR),
    ("POST", "/whip/cam", "application/sdp", OPERATOR),
]


async def test_garbage_bodies_and_paths_answer_4xx_with_a_reason(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(STREAMS, **relay_config(tmp_path, login_per_minute=1000))
    await wait_for(lambda: relay.relay.streams["a"].state == "live", 20, "the sim drone")
    incident = await relay.relay.incidents.create("Übung", ["a"], "", "test", "")
    # A share link whose expiry has a digit int() cannot read (isdigit() says yes).
    status, body, _ = await request(relay, "GET", "/s/a.b.%C2%B2.c", token=None)
    assert status == 401 and body["error"] == "share_link_invalid", (status, body)
    for method, route, kind, token in BODY_ROUTES:
        path = route.format(id=incident.id)
        for payload, ctype, expected in (
            (b"{}", f"{kind}; charset=bogus", 415),
            (b"{}", f"{kind}; charset=base64", 415),
            (b"\xff\xfe{", kind, 400),
            (b"x" * (70 * 1024), kind, 413),
        ):
            status, body, _ = await request(relay, method, path, token, payload, ctype)
            assert status == expected and body and body["reason"], (path, ctype, status, body)
        if kind == "application/json":
            for payload in (b"[" * 20000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
                status, body, _ = await request(relay, method, path, token, payload, kind)
                assert status == 400 and body["error"] == "bad_json", (path, status, body)
    # A lone surrogate (a valid JSON escape, no Unicode text) in a title: 400 and no
    # incident folder left behind.
    title = b'{"title": "Brand \\ud800", "streams": ["a"]}'
    status, body, _ = await request(
        relay, "POST", "/api/incidents", OPERATOR, title, "application/json"
    )
    assert status == 400 and body["error"] == "bad_text", body
    assert [p.name for p in (tmp_path / "rec").iterdir()] == [incident.id]
    # ... and in a login name: refused, and the failed login is still in the audit log.
    login = b'{"name": "\\ud800", "password": "x"}'
    status, body, _ = await request(relay, "POST", "/api/login", None, login, "application/json")
    assert status == 400, body
    failed = [e for e in relay.relay.audit.read() if e["event"] == "login_failed"]
    assert failed and failed[-1]["method"] == "password"
    # Nothing above was an unhandled error.
    assert (await request(relay, "GET", "/healthz", None))[0] == 200
    await relay.relay.incidents.stop(incident.id, "test", "")


async def test_audit_keeps_a_line_with_a_lone_surrogate(tmp_path: Path) -> None:
    from relay.audit import AuditLog

    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append("login_failed", "\ud800x", "127.0.0.1", method="password")
    assert [e["who"] for e in audit.read()] == ["\ud800x"]


async def test_audit_reads_one_incidents_events_only(tmp_path: Path) -> None:
    from relay.audit import AuditLog

    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append("incident_start", "op", incident="a1", title='"incident":"b2"')
    audit.append("incident_start", "op", incident="b2")
    audit.append("clip", "op", incident="b2", note="x")
    audit.append("login", "op")
    assert [e["event"] for e in audit.read(incident="b2")] == ["incident_start", "clip"]
    assert [e["incident"] for e in audit.read(incident="a1")] == ["a1"]
    assert len(audit.read()) == 4


async def test_a_newline_in_user_text_never_forges_a_log_line(
    start_relay: RelayFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    relay = await start_relay(STREAMS, **relay_config(tmp_path))
    await wait_for(lambda: relay.relay.streams["a"].state == "live", 20, "the sim drone")
    forged = "2026-01-01 00:00:00,000 CRITICAL relay.auth: admin token leaked"
    caplog.set_level(logging.INFO)
    status, body, _ = await request(
        relay,
        "POST",
        "/api/incidents",
        OPERATOR,
        f'{{"title": "Brand\\n{forged}\\u2028x", "streams": ["a"]}}',
        "application/json",
    )
    assert status == 201, body
    formatter = SafeFormatter(FORMAT)
    lines = [formatter.format(r) for r in caplog.records if r.name.startswith("relay")]
    titled = [line for line in lines if "admin token leaked" in line]
    assert titled, "the title was not logged at all"
    for line in titled:
        assert "\n" not in line and "\r" not in line and "\u2028" not in line, line
        assert "Brand\\n2026-01-01" in line
    await request(relay, "POST", f"/api/incidents/{body['id']}/stop", OPERATOR)


async def test_aiohttp_own_400_carries_the_security_headers(
    start_relay: RelayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    relay = await start_relay(STREAMS)
    host, port = relay.base_url.removeprefix("http://").split(":")
    for garbage in (
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"BREW / HTTP/9\r\n\r\n",
        b"\x16\x03\x01\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(garbage)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head = answer.split(b"\r\n\r\n")[0].decode("latin-1").lower()
        assert head.startswith("http/1.") and head[8:13] == " 400 ", head
        for name, value in SECURITY_HEADERS.items():
            assert f"{name.lower()}: {value.lower()}" in head, (garbage, name, head)
    # The client's garbage is no error of the relay's: no traceback per request in the log.
    assert not [r for r in caplog.records if r.exc_info and r.name == "aiohttp.server"]


def failures(relay: RunningRelay, method: str) -> list[dict[str, Any]]:
    return [
        e
        for e in relay.relay.audit.read()
        if e["event"] == "login_failed" and e.get("method") == method
    ]


async def test_share_link_guessing_is_limited_per_address_and_audited_in_aggregate(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(STREAMS, **relay_config(tmp_path))
    statuses = []
    async with aiohttp.ClientSession() as http:
        for i in range(30):
            async with http.get(f"{relay.base_url}/s/a.{i:016x}.99999999999.sig") as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    assert 1 <= int(resp.headers["Retry-After"]) <= 60
        # A real link waits too at this address (its budget is spent), not at another.
        status, link, _ = await request(
            relay,
            "POST",
            "/api/share",
            OPERATOR,
            '{"stream": "a", "expires_in_s": 3600}',
            "application/json",
            source="127.0.0.4",
        )
        assert status == 201
        async with http.get(link["url"], allow_redirects=False) as resp:
            assert resp.status == 429
    path = link["url"].removeprefix(relay.base_url)
    assert (await request(relay, "GET", path, None, source="127.0.0.3"))[0] == 200
    assert statuses == [401] * 5 + [429] * 25, statuses
    # One line for the first failure, the rest of the minute as one line with counts.
    assert len(failures(relay, "share")) == 1
    assert relay.app is not None
    from relay.api.keys import AUTH as AUTH_KEY

    relay.app[AUTH_KEY].failures.flush()
    lines = failures(relay, "share")
    assert len(lines) == 2 and (lines[1]["repeated"], lines[1]["throttled"]) == (4, 26), lines


async def test_wrong_bearer_tokens_are_limited_per_address_and_audited(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(STREAMS, **relay_config(tmp_path))
    statuses = [
        (await request(relay, "GET", "/api/streams", f"guess-{i:020d}"))[0] for i in range(12)
    ]
    assert statuses == [401] * 5 + [429] * 7, statuses
    # Right tokens from the same address still pass (a control room behind one NAT).
    assert (await request(relay, "GET", "/api/streams", VIEWER))[0] == 200
    lines = failures(relay, "bearer")
    assert len(lines) == 1 and lines[0]["reason"] == "unknown token", lines
    from relay.api.keys import AUTH as AUTH_KEY

    assert relay.app is not None
    relay.app[AUTH_KEY].failures.flush()
    lines = failures(relay, "bearer")
    assert (lines[-1]["repeated"], lines[-1]["throttled"]) == (4, 7), lines
    # Another address is not affected, and right tokens never count.
    for _ in range(10):
        assert (await request(relay, "GET", "/api/streams", VIEWER, source="127.0.0.2"))[0] == 200


async def land(url: str, source: str = "127.0.0.1") -> dict[str, str] | None:
    """Opens a share link like a browser; the headers its later requests carry (cookie
    and CSRF token), or None when the landing was refused."""
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as http:
        async with http.get(url, allow_redirects=False) as resp:
            if resp.status not in (200, 303):  # a share link's page; the login URL's redirect
                return None
    cookies = {c.key: c.value for c in jar}
    return {
        "Cookie": f"relay_session={cookies['relay_session']}",
        "X-CSRF-Token": cookies["relay_csrf"],
    }


async def who_am_i(relay: RunningRelay, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(relay.base_url + "/api/me", headers=headers) as resp:
            return resp.status


async def make_link(relay: RunningRelay, expires_in_s: int) -> str:
    status, link, _ = await request(
        relay,
        "POST",
        "/api/share",
        OPERATOR,
        f'{{"stream": "a", "expires_in_s": {expires_in_s}}}',
        "application/json",
    )
    assert status == 201, link
    return str(link["url"])


async def test_share_link_sessions_never_log_the_control_room_out(
    start_relay: RelayFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relay.auth import logins

    monkeypatch.setattr(logins, "MAX_SESSIONS", 3)
    monkeypatch.setattr(logins, "MAX_SHARE_SESSIONS", 6, raising=False)
    monkeypatch.setattr(logins, "MAX_PER_LINK", 3, raising=False)
    relay = await start_relay(STREAMS, **relay_config(tmp_path))
    control_room = []
    for token in (OPERATOR, VIEWER):
        control_room.append(await land(f"{relay.base_url}/login?token={token}"))
    first = await make_link(relay, 30 * 24 * 3600)  # its sessions outlive the logins
    opened = [await land(first) for _ in range(10)]
    assert all(opened)
    # The link's own oldest sessions made room; its newest three work.
    states = [await who_am_i(relay, h) for h in opened if h]
    assert states == [401] * 7 + [200] * 3, states
    for headers in control_room:
        assert headers and await who_am_i(relay, headers) == 200
    # A full share pool refuses more share sessions; the control room stays logged in.
    second = await make_link(relay, 3600)
    assert all([await land(second) for _ in range(3)])
    third = await make_link(relay, 3600)
    status, body, headers = await request(relay, "GET", third.removeprefix(relay.base_url), None)
    assert status == 503 and body["error"] == "full" and headers["Retry-After"]
    for headers in control_room:
        assert headers and await who_am_i(relay, headers) == 200


async def test_a_share_links_viewers_end_when_it_expires(
    start_relay: RelayFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relay.auth import shares
    from tests.whep_client import WhepViewer

    relay = await start_relay(STREAMS, **relay_config(tmp_path))
    await wait_for(lambda: relay.relay.streams["a"].state == "live", 20, "the sim drone")
    headers = await land(await make_link(relay, 60))
    assert headers
    viewer = WhepViewer(relay.base_url, "a", headers=headers)
    try:
        await viewer.start()
        await viewer.wait_frames(5)
        assert relay.relay.sessions.count("a") == 1
        later = shares.now() + 61
        monkeypatch.setattr(shares, "now", lambda: later)
        await wait_for(lambda: relay.relay.sessions.count("a") == 0, 5, "the viewer to end")
    finally:
        await viewer.close()
    stops = [e for e in relay.relay.audit.read() if e["event"] == "watch_stop"]
    assert [e["reason"] for e in stops] == ["share link expired"], stops


async def test_one_identity_or_address_cannot_fill_a_stream(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    from tests.whep_client import WhepViewer

    relay = await start_relay(
        STREAMS,
        **relay_config(tmp_path, max_viewers_per_identity=3, max_unconnected_per_address=2),
    )
    await wait_for(lambda: relay.relay.streams["a"].state == "live", 20, "the sim drone")
    # Offers that are answered and never connect (the answer is never applied).
    idle = [WhepViewer(relay.base_url, "a") for _ in range(5)]
    try:
        statuses = []
        for viewer, source in zip(
            idle, ["127.0.0.2"] * 3 + ["127.0.0.3", "127.0.0.4"], strict=True
        ):
            await viewer.prepare()
            status, body, _ = await request(
                relay,
                "POST",
                "/whep/a",
                VIEWER,
                viewer.pc.localDescription.sdp,
                "application/sdp",
                source=source,
            )
            statuses.append((status, body["error"] if body else None))
        assert statuses == [(201, None)] * 2 + [(429, "too_many_viewers")] + [(201, None)] + [
            (429, "too_many_viewers")
        ], statuses
        # The brigade's own viewers still get in and see pictures.
        watcher = WhepViewer(relay.base_url, "a", token=OPERATOR)
        await watcher.start()
        await watcher.wait_frames(5)
        # A share link's holder cannot end someone else's viewer (the same 404 as a wrong id).
        holder = await land(await make_link(relay, 3600), source="127.0.0.6")
        assert holder and watcher.location
        async with aiohttp.ClientSession() as http:
            async with http.delete(relay.base_url + watcher.location, headers=holder) as resp:
                assert resp.status == 404
        seen = watcher.received.frames
        await watcher.wait_frames(seen + 5)
        await watcher.close()
    finally:
        for viewer in idle:
            await viewer.pc.close()


async def test_share_link_landings_are_limited_per_address_even_when_they_succeed(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(STREAMS, **relay_config(tmp_path, share_per_minute=3))
    url = await make_link(relay, 3600)
    opened = [await land(url) for _ in range(5)]
    assert [bool(h) for h in opened] == [True] * 3 + [False] * 2
    status, body, headers = await request(relay, "GET", url.removeprefix(relay.base_url), None)
    assert status == 429 and body["error"] == "rate_limited" and headers["Retry-After"]
    assert await land(url, source="127.0.0.5")  # another address has its own budget


def test_the_cli_log_setup_keeps_every_message_on_one_line() -> None:
    import subprocess
    import sys

    code = (
        "import logging; from relay import logs; logs.configure('info'); "
        "logging.getLogger('relay.x').info('title %s', 'a\\n2026-01-01 forged\\x1b[2J')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and "title a\\n2026-01-01 forged\\x1b[2J" in lines[0], run.stderr
