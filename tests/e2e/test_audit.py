"""Every login and every watch start and stop is in the audit log, under the right name:
a real aiortc WHEP viewer with a token, and a person logging in with Chromium."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from relay.auth.passwords import hash_password
from tests.conftest import SHAREABLE, TOKENS, RelayFactory, RunningRelay, wait_for
from tests.e2e.browser import chromium
from tests.e2e.test_browser import poll
from tests.whep_client import WhepViewer

SIM = {
    "name": "demo",
    "source": "sim://?size=640x360&fps=30&gop=30",
    "renditions": ["360p"],
    **SHAREABLE,
}
TABLET = "elw-tablet-1-token-000000"
PASSWORD = "leitstelle-passwort"


def events(relay: RunningRelay, kind: str, who: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in relay.relay.audit.read()
        if e["event"] == kind and (who is None or e["who"] == who)
    ]


async def start(start_relay: RelayFactory) -> RunningRelay:
    return await start_relay(
        [SIM],
        auth={
            "tokens": [
                *TOKENS,
                {"name": "elw-tablet-1", "token": TABLET, "role": "viewer", "streams": ["demo"]},
            ],
            "users": [
                {
                    "name": "leitstelle",
                    "password_hash": hash_password(PASSWORD),
                    "role": "admin",
                    "streams": ["*"],
                }
            ],
        },
    )


async def test_aiortc_viewer_watch_start_and_stop_are_audited(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    ended = WhepViewer(relay.base_url, "demo", token=TABLET)
    vanished = WhepViewer(relay.base_url, "demo", rendition="360p", token=TABLET)
    for viewer in (ended, vanished):
        await viewer.start()
        await viewer.wait_frames(10)
    starts = events(relay, "watch_start", "elw-tablet-1")
    assert len(starts) == 2
    assert {e["rendition"] for e in starts} == {"360p"} and starts[0]["stream"] == "demo"
    assert starts[0]["from"] == "127.0.0.1" and starts[0]["session"]
    await ended.close()  # DELETE
    vanished.location = None
    await vanished.close()  # the peer just goes away: no DELETE
    await wait_for(lambda: len(events(relay, "watch_stop")) == 2, 20, "watch_stop for both viewers")
    stops = {e["session"]: e for e in events(relay, "watch_stop")}
    assert set(stops) == {e["session"] for e in starts}
    assert all(e["who"] == "elw-tablet-1" and e["stream"] == "demo" for e in stops.values())
    reasons = sorted(e["reason"] for e in stops.values())
    assert reasons[0] == "DELETE by client" and reasons[1].startswith("connection")
    assert all(e["seconds"] > 0 for e in stops.values())
    print("watch_stop reasons:", reasons)


async def test_browser_login_watch_and_logout_are_audited(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        response = await page.goto(relay.base_url + "/play/demo")
        # Not logged in: the login form, in place of the player, with an honest 401.
        assert response.status == 401
        await page.fill("#login-name", "leitstelle")
        await page.fill("#login-password", "falsch-falsch")
        await page.click("#login-submit")
        await _wait_text(page, "#login-error", "Name oder Passwort falsch.")
        await page.fill("#login-password", PASSWORD)
        async with page.expect_navigation():
            await page.click("#login-submit")
        assert page.url == relay.base_url + "/play/demo"  # the page that was asked for
        await poll(page, lambda s: s["w"] > 0 and s["presented"] > 10, 20, "video to play")
        assert await page.inner_text("#user-name") == "leitstelle (admin)"
        assert await page.is_visible("#audit-link")
        login = events(relay, "login", "leitstelle")
        assert len(login) == 1 and login[0]["method"] == "password"
        assert len(events(relay, "login_failed", "leitstelle")) == 1
        # The browser's WHEP POST went through with the cookie and the CSRF header.
        assert [e["stream"] for e in events(relay, "watch_start", "leitstelle")] == ["demo"]

        # An operator (here an admin) shares the stream from the player, and revokes it.
        await page.select_option("#share-expiry", "3600")
        await page.click("#share-button")
        await _wait_count(page, "#share-list li", 1)
        url = await page.input_value("#share-url")
        assert url.startswith(relay.base_url + "/s/demo."), url
        created = events(relay, "share_created", "leitstelle")
        assert len(created) == 1 and 3590 < created[0]["expires"] - time.time() <= 3600
        await page.click("#share-list li button")
        await _wait_count(page, "#share-list li", 0)
        assert [e["share"] for e in events(relay, "share_revoked", "leitstelle")] == [
            created[0]["share"]
        ]

        # The admin's audit page lists those events.
        await page.goto(relay.base_url + "/audit")
        deadline = time.monotonic() + 10
        while "watch_start" not in await page.evaluate(
            "() => [...document.querySelectorAll('#audit-rows tr')].map(tr => tr.dataset.event)"
        ):
            assert time.monotonic() < deadline, "audit page shows no watch_start"
            await asyncio.sleep(0.1)
        # Leaving the player ended the watch; logging out is audited and ends the session.
        await wait_for(
            lambda: len(events(relay, "watch_stop", "leitstelle")) == 1,
            10,
            "watch_stop after leaving the player",
        )
        async with page.expect_navigation():
            await page.click("#logout-button")
        assert len(events(relay, "logout", "leitstelle")) == 1
        response = await page.goto(relay.base_url + "/")
        assert response.status == 401 and await page.is_visible("#login-form")
        assert not [e for e in errors if "Content Security Policy" in e], errors


async def _wait_text(page: Any, selector: str, text: str) -> None:
    deadline = time.monotonic() + 10
    while (await page.inner_text(selector)) != text:
        assert time.monotonic() < deadline, await page.inner_text(selector)
        await asyncio.sleep(0.1)


async def test_share_link_plays_in_chromium_until_revoked(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    async with relay.http() as http:
        async with http.post(
            relay.base_url + "/api/share", json={"stream": "demo", "expires_in_s": 3600}
        ) as resp:
            assert resp.status == 201
            link = await resp.json()
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(link["url"])
        await page.wait_for_url(relay.base_url + "/play/demo", timeout=10_000)
        await poll(
            page, lambda s: s["w"] > 0 and s["presented"] > 10, 20, "the shared stream to play"
        )
        who = f"share:{link['id']}"
        assert [e["method"] for e in events(relay, "login", who)] == ["share"]
        assert len(events(relay, "watch_start", who)) == 1
        assert await page.inner_text("#user-name") == "Geteilter Link"
        assert not await page.is_visible("#share-box")  # a share link cannot share on
        async with relay.http() as http:
            async with http.delete(f"{relay.base_url}/api/share/{link['id']}") as resp:
                assert resp.status == 200
        # Revoked: the viewer is cut at once, and the page falls back to the login form.
        await wait_for(
            lambda: len(events(relay, "watch_stop", who)) == 1,
            10,
            "the shared viewer to be disconnected",
        )
        assert events(relay, "watch_stop", who)[0]["reason"] == "share link revoked"
        deadline = time.monotonic() + 20
        while not await _login_form_shown(page):
            assert time.monotonic() < deadline, "the player did not fall back to the login"
            await asyncio.sleep(0.2)


async def _login_form_shown(page: Any) -> bool:
    try:
        return bool(await page.evaluate("() => !!document.getElementById('login-form')"))
    except Exception:  # the page is navigating (reloading) right now
        return False


async def _wait_count(page: Any, selector: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(await page.query_selector_all(selector)) != count:
        assert time.monotonic() < deadline, f"{selector}: not {count}"
        await asyncio.sleep(0.1)
