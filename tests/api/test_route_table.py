"""Every route has an access decision, and every one outside the public list refuses a
caller without credentials (401, or 403). A route added without @access fails here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from relay.api.access import BY_HANDLER, access, access_of
from relay.api.middleware import decision_for
from relay.api.scope import visible_streams
from tests.conftest import SHAREABLE, TOKENS, RelayFactory, RunningRelay, wait_for

SIM = {
    "name": "demo",
    "source": "sim://?size=320x240&fps=10&gop=10",
    "renditions": ["360p"],
    **SHAREABLE,
}

# The explicit public list: everything else needs an identity.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/login"),  # the login form, and ?token= (the URL the relay prints)
    ("POST", "/api/login"),
    ("GET", "/s/{token}"),  # a share link's landing checks the link itself
    ("GET", "/kiosk/{token}"),  # a kiosk link's screen: checks the link itself, like /s/
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


# --- Scope: every route decides where its streams are; a route naming another's stream is refused.

ALPHA = {
    "name": "alpha",
    "source": "sim://?size=320x240&fps=15&gop=15",
    "renditions": ["360p"],
    **SHAREABLE,
}
BRAVO = {**ALPHA, "name": "bravo"}
SCOPED_TOKEN = "scoped-to-alpha-token-0123456789"
# An admin (every role check passes) allowed only alpha: what stops it is scope alone.
SCOPED = {
    "name": "alpha-admin",
    "token": SCOPED_TOKEN,
    "role": "admin",
    "streams": ["alpha"],
    "publish": ["alpha"],
}
# Fields a body route may want besides its stream(s): the request must get past the
# handler's own checks, so that only the scope check can refuse it.
BODY = {"title": "Scope", "expires_in_s": 600, "hold": False, "from_s": 0, "to_s": 1}


def unscoped(app: web.Application) -> list[str]:
    """Routes whose decision does not say where their streams are."""
    return sorted(
        {
            f"{m} {p}"
            for r in app.router.routes()
            if (d := decision_for(r)) is not None and d.streams is None
            for m, p in [route_key(r)]
        }
    )


@dataclass
class Objects:
    """A stream's incident (with a segment and a snapshot) and share link, made by an admin."""

    incident: str
    segment: str
    snapshot: str
    share: str


async def _objects_of(relay: RunningRelay, stream: str) -> Objects:
    async with relay.http() as http:

        async def post(path: str, body: dict[str, object]) -> dict[str, object]:
            async with http.post(relay.base_url + path, json=body) as resp:
                assert resp.status == 201, (path, await resp.text())
                answer: dict[str, object] = await resp.json()
                return answer

        incident = str((await post("/api/incidents", {"title": "t", "streams": [stream]}))["id"])
        recorder = relay.relay.incidents.get(incident).recorders[stream]
        await wait_for(lambda: recorder.written >= 15, 30, f"{stream} recorded")
        snap = await post(f"/api/incidents/{incident}/snapshots", {"stream": stream})
        share = await post("/api/share", {"stream": stream, "expires_in_s": 600})
        async with http.get(f"{relay.base_url}/api/incidents/{incident}") as resp:
            detail = await resp.json()
    segment = detail["recordings"][0]["segments"][0]["url"]
    return Objects(incident, str(segment), str(snap["url"]), str(share["id"]))


def _placeholders(canonical: str, objects: Objects) -> dict[str, str]:
    """Values for the objects a path names (the stream's own keys are set by the caller)."""
    if canonical.startswith("/recordings/"):
        _, _, incident, folder, name = objects.segment.split("/")
        return {"id": incident, "folder": folder, "name": name}
    if canonical.startswith("/api/incidents/"):
        return {"id": objects.incident}
    if canonical.startswith("/api/share/"):
        return {"id": objects.share}
    return {"session": "no-such-session"}


def scoped_request(
    route: web.AbstractRoute, stream: str, objects: Objects
) -> tuple[str, str, dict[str, object] | None]:
    """(method, path with query, JSON body) of a request touching `stream` through `route`."""
    method, canonical = route_key(route)
    decision = decision_for(route)
    assert decision is not None and decision.streams is not None
    where, key = decision.streams.where, decision.streams.key
    values = _placeholders(canonical, objects)
    if where == "path":
        values[key] = stream

    def fill(m: re.Match[str]) -> str:
        return values.get(m.group(1), stream)  # an unknown key: the stream's name

    path = re.sub(r"\{(\w+)(:[^}]*)?\}", fill, canonical)
    if where == "query":
        path += f"?{key}={stream}"
    body: dict[str, object] | None = None
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        body = dict(BODY)
        if where == "body":
            body[key] = [stream] if key == "streams" else stream
    return method, path, body


async def test_every_route_decides_where_its_streams_are(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    assert relay.app is not None
    missing = unscoped(relay.app)
    assert not missing, "routes without a scope decision (@access(..., streams=...)): " + ", ".join(
        missing
    )
    # A route added without one is named (the test above then fails).
    relay.app.router._frozen = False

    @access("operator")
    async def forgot_scope(request: web.Request) -> web.Response:
        return web.json_response({})

    relay.app.router.add_get("/api/forgot-scope", forgot_scope)
    relay.app.router._frozen = True
    assert unscoped(relay.app) == ["GET /api/forgot-scope"]
    async with relay.http() as http:  # and it does not answer, even an admin
        async with http.get(relay.base_url + "/api/forgot-scope") as resp:
            assert resp.status == 500
            assert (await resp.json())["error"] == "no_scope_decision"


async def test_a_handler_that_never_checks_its_streams_is_refused(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay([SIM])
    assert relay.app is not None

    @access("operator", streams=BY_HANDLER)
    async def forgetful(request: web.Request) -> web.Response:
        return web.json_response({"pictures": "of every stream"})

    @access("operator", streams=BY_HANDLER)
    async def careful(request: web.Request) -> web.Response:
        return web.json_response({"streams": visible_streams(request, ["demo"])})

    relay.app.router._frozen = False
    relay.app.router.add_get("/api/forgetful", forgetful)
    relay.app.router.add_get("/api/careful", careful)
    relay.app.router._frozen = True
    async with relay.http() as http:
        async with http.get(relay.base_url + "/api/forgetful") as resp:
            assert resp.status == 500
            assert (await resp.json())["error"] == "scope_not_checked"
        async with http.get(relay.base_url + "/api/careful") as resp:
            assert resp.status == 200 and (await resp.json()) == {"streams": ["demo"]}


async def test_an_identity_scoped_to_another_stream_is_refused_on_every_route(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(
        [ALPHA, BRAVO],
        auth={"tokens": [*TOKENS, SCOPED]},
        recording={"dir": str(tmp_path / "rec")},
    )
    assert relay.app is not None
    for name in ("alpha", "bravo"):
        stream = relay.relay.streams[name]
        await wait_for(lambda s=stream: s.state == "live", 30, f"{name} live")  # type: ignore[misc]
    alpha, bravo = await _objects_of(relay, "alpha"), await _objects_of(relay, "bravo")
    refused, lists, allowed = [], [], []
    async with relay.http(SCOPED_TOKEN) as http:
        for route in relay.app.router.routes():
            method, canonical = route_key(route)
            decision = decision_for(route)
            assert decision is not None and decision.streams is not None
            where = decision.streams.where
            if decision.need == "public" or where == "none":
                continue
            names_one = where in ("path", "query", "body", "all") or "{" in canonical
            if not names_one:  # a list: 200, and not a word of bravo
                async with http.request(method, relay.base_url + canonical) as resp:
                    text = await resp.text()
                    assert resp.status == 200, (method, canonical, resp.status, text)
                    assert "bravo" not in text and bravo.incident not in text, (canonical, text)
                    assert "alpha" in text or canonical == "/api/share", (canonical, text)
                lists.append(f"{method} {canonical}")
                continue
            method, path, body = scoped_request(route, "bravo", bravo)
            async with http.request(method, relay.base_url + path, json=body) as resp:
                text = await resp.text()
                assert resp.status == 403, f"{method} {path} for bravo: {resp.status} {text}"
            refused.append(f"{method} {canonical}")
            if where == "all":
                continue  # needs every stream: refused for alpha too
            # The same request for the identity's own stream passes the scope check (so
            # the 403 above is the scope's doing, not the request's shape).
            method, path, body = scoped_request(route, "alpha", alpha)
            async with http.request(method, relay.base_url + path, json=body) as resp:
                assert resp.status != 403, f"{method} {path} for alpha: {await resp.text()}"
            allowed.append(f"{method} {canonical}")
    for expected in (
        "POST /api/incidents",
        "GET /api/incidents/{id}",
        "POST /api/incidents/{id}/stop",
        "POST /api/incidents/{id}/hold",
        "POST /api/incidents/{id}/clips",
        "POST /api/incidents/{id}/snapshots",
        "GET /recordings/{id}/{folder}/{name}",
        "POST /api/share",
        "DELETE /api/share/{id}",
        "GET /api/streams/{name}",
        "POST /whep/{stream}",
        "POST /whip/{stream}",
        "GET /play/{stream}",
        "GET /metrics",
        "GET /api/audit",
    ):
        assert expected in refused, (expected, refused)
    assert {"GET /api/incidents", "GET /api/streams", "GET /api/share"} <= set(lists), lists
    # The snapshot of bravo, named directly, is refused too (not only its segments).
    async with relay.http(SCOPED_TOKEN) as http:
        async with http.get(relay.base_url + bravo.snapshot) as resp:
            assert resp.status == 403
        async with http.get(relay.base_url + alpha.snapshot) as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
