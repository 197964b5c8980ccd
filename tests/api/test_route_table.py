"""Every route has an access decision, and every one outside the public list refuses a
caller without credentials (401, or 403). A route added without @access fails here."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web

from relay.api.access import access_of
from relay.api.middleware import decision_for
from tests.conftest import RelayFactory

SIM = {"name": "demo", "source": "sim://?size=320x240&fps=10&gop=10", "renditions": ["360p"]}

# The explicit public list: everything else needs an identity.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/login"),  # the login form, and ?token= (the URL the relay prints)
    ("POST", "/api/login"),
    ("GET", "/s/{token}"),  # a share link's landing checks the link itself
    ("OPTIONS", "/whep/{stream}"),  # a CORS preflight never carries credentials
    ("OPTIONS", "/whip/{stream}"),
}
PUBLIC_PREFIXES = ("/static",)


def route_key(route: web.AbstractRoute) -> tuple[str, str]:
    method = "GET" if route.method == "HEAD" else route.method
    return method, route.resource.canonical if route.resource else "?"


def undeclared(app: web.Application) -> list[str]:
    """Routes whose handler declares no access decision."""
    return sorted(
        {
            f"{m} {p}"
            for r in app.router.routes()
            if decision_for(r) is None
            for m, p in [route_key(r)]
        }
    )


def sample_path(canonical: str) -> str:
    # Fill every {placeholder} with a plausible value: the configured stream's name works
    # for stream keys, and an unknown id still has to meet the auth check first.
    return re.sub(r"\{(\w+)(:[^}]*)?\}", "demo", canonical)


async def test_every_route_declares_and_enforces_access(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    assert relay.app is not None
    missing = undeclared(relay.app)
    assert not missing, (
        "routes without an @access decision (declare one on the handler): " + ", ".join(missing)
    )
    checked = []
    async with aiohttp.ClientSession() as http:  # no credentials at all
        for route in relay.app.router.routes():
            method, path = route_key(route)
            decision = decision_for(route)
            assert decision is not None
            if path.startswith(PUBLIC_PREFIXES) or (method, path) in PUBLIC:
                assert decision.need == "public", f"{method} {path} is listed public"
                continue
            assert decision.need != "public", (
                f"{method} {path} is public but not in the test's explicit public list"
            )
            async with http.request(
                method, relay.base_url + sample_path(path), data=b"v=0\r\n", allow_redirects=False
            ) as resp:
                assert resp.status in (401, 403), f"{method} {path} answered {resp.status}"
                if resp.status == 401:
                    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
                    assert (await resp.json())["error"]
                assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
            checked.append(f"{method} {path}")
    # The walk saw the API, WHEP and the pages (and whatever else is registered).
    for expected in (
        "GET /api/streams",
        "POST /whep/{stream}",
        "GET /play/{stream}",
        "GET /api/audit",
        "POST /api/share",
        "GET /metrics",
    ):
        assert expected in checked, checked


async def test_a_route_without_decision_is_named_and_refused(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    assert relay.app is not None

    async def forgotten(request: web.Request) -> web.Response:
        return web.json_response({"secret": True})

    # Registered behind the router's back, as a merge could: the app is already frozen.
    relay.app.router._frozen = False
    relay.app.router.add_get("/api/forgotten", forgotten)
    relay.app.router._frozen = True
    assert access_of(forgotten) is None
    assert undeclared(relay.app) == ["GET /api/forgotten"]
    async with relay.http() as http:  # even an admin: no decision, no answer
        async with http.get(relay.base_url + "/api/forgotten") as resp:
            assert resp.status == 500
            assert (await resp.json())["error"] == "no_access_decision"
