"""Kiosk links over HTTP: a share link of kind kiosk for several streams, long-lived, that
gets each stream's public rendition only (403 for another), whose own address logs a screen
in again, and that ends at once when revoked (audited)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from tests.api.test_access import call
from tests.conftest import RelayFactory, RunningRelay

MASK = {"masks": [[[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]]}
SIM = "sim://?size=640x360&fps=10&gop=10"
OPERATOR = "kiosk-operator-token-000000"
STREAMS = [
    {
        "name": name,
        "source": SIM,
        "renditions": ["360p", {"name": "240p", "privacy": MASK}],
        "public_rendition": "240p",
    }
    for name in ("nord", "sued")
] + [{"name": "intern", "source": SIM, "renditions": ["240p"], "shareable_without_privacy": True}]
AUTH = {"tokens": [{"name": "elw", "token": OPERATOR, "role": "operator", "streams": ["*"]}]}
YEAR = 365 * 24 * 3600
OFFER = {"data": "v=0\r\n", "headers": {"Content-Type": "application/sdp"}}


async def make_kiosk(relay: RunningRelay, **body: Any) -> tuple[int, Any]:
    body = {"kind": "kiosk", "streams": ["nord", "sued"], "title": "Rathaus", **body}
    return await call(relay, "POST", "/api/share", OPERATOR, json=body)


async def land(url: str, jar: aiohttp.CookieJar) -> tuple[int, str]:
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(url, allow_redirects=False) as resp:
            return resp.status, await resp.text()


async def as_kiosk(
    relay: RunningRelay, jar: aiohttp.CookieJar, method: str, path: str, **kw: Any
) -> tuple[int, Any]:
    csrf = next((c.value for c in jar if c.key == "relay_csrf"), "")
    headers = {"X-CSRF-Token": csrf, **kw.pop("headers", {})}
    async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as http:
        async with http.request(method, relay.base_url + path, **kw) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body


async def test_a_kiosk_link_watches_its_streams_public_rungs_only(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay(STREAMS, auth=AUTH, server={"brigade": "Feuerwehr Musterstadt"})
    status, link = await make_kiosk(relay, expires_in_s=YEAR, cycle_s=15)
    assert status == 201, link
    assert link["kind"] == "kiosk" and link["streams"] == ["nord", "sued"]
    assert link["url"].startswith(relay.base_url + "/kiosk/")
    jar = aiohttp.CookieJar(unsafe=True)
    # The first visit mints the screen's session (a page that reloads itself); the second
    # is the kiosk page.
    status, text = await land(link["url"], jar)
    assert status == 200 and "http-equiv" in text
    status, text = await land(link["url"], jar)
    assert status == 200 and 'src="/static/kiosk.js"' in text
    status, kiosk = await as_kiosk(relay, jar, "GET", "/api/kiosk")
    assert status == 200, kiosk
    assert kiosk["title"] == "Rathaus" and kiosk["brigade"] == "Feuerwehr Musterstadt"
    assert kiosk["cycle_s"] == 15
    assert kiosk["streams"] == [{"name": n, "rendition": "240p"} for n in ("nord", "sued")]
    for stream in ("nord", "sued"):
        status, body = await as_kiosk(relay, jar, "POST", f"/whep/{stream}?rendition=360p", **OFFER)
        assert status == 403 and body["error"] == "public_rendition_only", body
        status, body = await as_kiosk(relay, jar, "POST", f"/whep/{stream}?rendition=240p", **OFFER)
        assert status == 400 and body["error"] == "bad_offer", body  # allowed; junk SDP
    status, body = await as_kiosk(relay, jar, "POST", "/whep/intern", **OFFER)
    assert status == 403, body  # not one of the link's streams
    status, streams = await as_kiosk(relay, jar, "GET", "/api/streams")
    assert [s["name"] for s in streams["streams"]] == ["nord", "sued"]
    events = relay.relay.audit.read(100)
    created = next(e for e in events if e["event"] == "share_created")
    assert created["kind"] == "kiosk" and created["streams"] == ["nord", "sued"]


async def test_kiosk_links_are_checked(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    # A plain share link still lasts at most 30 days and shares one stream.
    body = {"stream": "nord", "expires_in_s": YEAR}
    status, answer = await call(relay, "POST", "/api/share", OPERATOR, json=body)
    assert status == 400 and answer["error"] == "bad_expiry", answer
    body = {"streams": ["nord", "sued"]}
    status, answer = await call(relay, "POST", "/api/share", OPERATOR, json=body)
    assert status == 400 and answer["error"] == "bad_streams", answer
    status, answer = await make_kiosk(relay, expires_in_s=YEAR + 1)
    assert status == 400 and answer["error"] == "bad_expiry", answer
    status, answer = await make_kiosk(relay, streams=["nord", "nord"])
    assert status == 400 and answer["error"] == "bad_streams", answer
    status, answer = await make_kiosk(relay, streams=["nord", "nirgends"])
    assert status == 404 and answer["error"] == "unknown_stream", answer
    # Made without an expiry: 30 days.
    status, link = await make_kiosk(relay)
    assert status == 201 and 29 * 86400 < link["expires"] - time.time() <= 30 * 86400
    # A plain share link's landing is no kiosk: the kiosk address refuses it.
    status, plain = await call(
        relay, "POST", "/api/share", OPERATOR, json={"stream": "nord", "expires_in_s": 600}
    )
    token = plain["url"].rsplit("/", 1)[1]
    status, _ = await land(f"{relay.base_url}/kiosk/{token}", aiohttp.CookieJar(unsafe=True))
    assert status == 404
    # The /s/ address of a kiosk link leads to the kiosk.
    token = link["url"].rsplit("/", 1)[1]
    status, text = await land(f"{relay.base_url}/s/{token}", aiohttp.CookieJar(unsafe=True))
    assert status == 200 and f"/kiosk/{token}" in text


async def test_a_revoked_kiosk_link_ends_its_screen(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    _, link = await make_kiosk(relay)
    jar = aiohttp.CookieJar(unsafe=True)
    await land(link["url"], jar)
    assert (await as_kiosk(relay, jar, "GET", "/api/kiosk"))[0] == 200
    status, listed = await call(relay, "GET", "/api/share", OPERATOR)
    assert [x["kind"] for x in listed["links"]] == ["kiosk"]
    assert listed["links"][0]["streams"] == ["nord", "sued"]
    status, _ = await call(relay, "DELETE", f"/api/share/{link['id']}", OPERATOR)
    assert status == 200
    assert (await as_kiosk(relay, jar, "GET", "/api/kiosk"))[0] == 401
    # Reloading the page cannot log the screen in again.
    status, _ = await land(link["url"], jar)
    assert status == 401


async def test_a_kiosk_link_shares_only_streams_its_maker_may_watch(
    start_relay: RelayFactory,
) -> None:
    scoped = {"name": "nord-elw", "token": "nord-operator-token-0000", "role": "operator"}
    auth = {"tokens": [*AUTH["tokens"], {**scoped, "streams": ["nord"]}]}
    relay = await start_relay(STREAMS, auth=auth)
    body = {"kind": "kiosk", "streams": ["nord", "sued"]}
    status, answer = await call(relay, "POST", "/api/share", scoped["token"], json=body)
    assert status == 403 and answer["error"] == "forbidden" and "'sued'" in answer["reason"]
    status, answer = await call(relay, "POST", "/api/share", OPERATOR, json=body)
    assert status == 201, answer
    # Its maker's colleague scoped to one of them neither sees nor revokes it.
    status, listed = await call(relay, "GET", "/api/share", scoped["token"])
    assert status == 200 and listed["links"] == []
    status, _ = await call(relay, "DELETE", f"/api/share/{answer['id']}", scoped["token"])
    assert status == 403
