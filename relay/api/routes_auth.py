"""Logging in and out: the login page and form, the token URL, share-link landings, /api/me."""

from __future__ import annotations

import hashlib
import html
import time
from typing import Any

from aiohttp import web

from relay.api.access import NO_STREAM, Identity, access, identity_of
from relay.api.body import BodyError, check_body, read_json
from relay.api.errors import json_error
from relay.api.keys import AUTH, RELAY
from relay.api.middleware import CSRF_COOKIE, SESSION_COOKIE, unauthenticated
from relay.api.routes_web import web_dir
from relay.api.schemas import MAX_SECRET, LoginBody
from relay.auth.logins import Kind, SessionsFull
from relay.auth.ratelimit import retry_after
from relay.auth.shares import ShareError

routes = web.RouteTableDef()


async def _start_session(
    request: web.Request,
    response: web.StreamResponse,
    kind: Kind,
    name: str,
    method: str,
    cap: float | None = None,
    **details: Any,
) -> str:
    """Creates the browser session, sets its cookies on `response`, audits the login;
    returns the CSRF token."""
    auth = request.app[AUTH]
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        auth.sessions.end(old)  # a new login never inherits an old session id (fixation)
    expires = auth.session_expiry(cap)
    session_id, session = auth.sessions.create(kind, name, expires, auth.proof(kind, name))
    await auth.sessions.save()
    max_age = max(1, int(expires - time.time()))
    for cookie, value, httponly in (
        (SESSION_COOKIE, session_id, True),
        (CSRF_COOKIE, session.csrf, False),
    ):
        response.set_cookie(
            cookie,
            value,
            max_age=max_age,
            path="/",
            httponly=httponly,
            samesite="Strict",
            secure=request.secure,
        )
    who = f"share:{name}" if kind == "share" else name
    await request.app[RELAY].audit.record(
        "login",
        who,
        request.remote or "?",
        method=method,
        session=session_tag(session_id),
        **details,
    )
    return session.csrf


def session_tag(session_id: str) -> str:
    """Names a browser session in the audit log without giving away any of its secret."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:8]


def _landing(target: str) -> web.Response:
    """A page that moves on to `target` by itself. Not a 30x redirect: a link opened from
    a mail or chat is a cross-site navigation, and a redirect inside it would not carry
    the new SameSite=Strict cookie; a refresh from this page is same-site and does."""
    url = html.escape(target, quote=True)
    body = (
        f'<!doctype html><html lang="de"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={url}"><title>drone-relay</title>'
        f'<link rel="stylesheet" href="/static/app.css"></head><body class="login-page">'
        f'<main class="login-main"><p><a class="btn" href="{url}">Weiter / Continue</a>'
        f"</p></main></body></html>"
    )
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/login")
@access("public")
async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form; with ?token=… (the URL the relay prints) logs the browser in."""
    token = request.query.get("token")
    if token is None:
        return web.FileResponse(web_dir() / "login.html", headers={"Cache-Control": "no-store"})
    identity = request.app[AUTH].by_token(token[:MAX_SECRET])
    if identity is None:
        request.app[AUTH].failures.failed("token-url", request.remote or "?", "unknown token")
        return unauthenticated(request, "unknown token", "invalid_token")
    # A redirect drops the token from the address bar and history. (The URL is opened by
    # typing or from the terminal: a same-site navigation, which carries the new cookie.)
    request.app[AUTH].limits["login"].refund(request.remote or "?")  # only failures count
    response = web.Response(status=303, headers={"Location": "/", "Cache-Control": "no-store"})
    await _start_session(request, response, "token", identity.name, "token-url")
    return response


@routes.post("/api/login")
@access("public")
async def login(request: web.Request) -> web.Response:
    """{"name", "password"} → 200 and the session cookies, or 401."""
    # Only JSON (415 otherwise): a cross-site form cannot send it without a preflight, so
    # there is no login CSRF.
    try:
        body = await read_json(request)
    except BodyError as exc:
        # An unreadable login is a failed one (the limiter counted it): audited as one.
        if exc.status == 400:
            request.app[AUTH].failures.failed("password", request.remote or "?", exc.code)
        raise
    login = check_body(body, LoginBody, "bad_login")
    name, password = login.name, login.password
    identity = await request.app[AUTH].by_password(name, password)
    if identity is None:
        request.app[AUTH].failures.failed(
            "password", request.remote or "?", "wrong name or password", who=name
        )
        return json_error(401, "login_failed", "wrong name or password")
    request.app[AUTH].limits["login"].refund(request.remote or "?")  # only failures count
    response = web.json_response({"name": identity.name, "role": identity.role.name.lower()})
    await _start_session(request, response, "user", identity.name, "password")
    return response


@routes.post("/api/logout")
@access("viewer", streams=NO_STREAM)
async def logout(request: web.Request) -> web.Response:
    identity = identity_of(request)
    assert identity is not None  # the middleware let only identities through
    if identity.session is None:
        return json_error(400, "no_session", "a Bearer request has no session to end")
    auth = request.app[AUTH]
    auth.sessions.end(identity.session)
    await auth.sessions.save()
    await request.app[RELAY].audit.record(
        "logout", identity.name, request.remote or "?", session=session_tag(identity.session)
    )
    response = web.json_response({"logged_out": True})
    for cookie in (SESSION_COOKIE, CSRF_COOKIE):
        response.del_cookie(cookie, path="/", samesite="Strict", secure=request.secure)
    return response


def describe(identity: Identity) -> dict[str, Any]:
    return {
        "name": identity.name,
        "role": identity.role.name.lower(),
        "kind": identity.kind,
        "streams": sorted(identity.streams),
        "publish": sorted(identity.publish),
        "csrf": identity.csrf,
    }


@routes.get("/api/me")
@access("viewer", streams=NO_STREAM)
async def me(request: web.Request) -> web.Response:
    """Who this is, what it may do, and the CSRF token its browser state changes echo."""
    identity = identity_of(request)
    assert identity is not None
    return web.json_response(describe(identity), headers={"Cache-Control": "no-store"})


def landing_throttled(request: web.Request) -> web.Response | None:
    """429 when this address lands on share links too often (each landing mints a session
    and writes the session store), else None."""
    auth = request.app[AUTH]
    wait = auth.limits["share"].take(request.remote or "?")
    if not wait:
        return None
    auth.failures.throttled("share", request.remote or "?")
    return json_error(
        429,
        "rate_limited",
        "too many share-link landings from this address; retry later",
        headers={"Retry-After": retry_after(wait)},
    )


@routes.get("/s/{token}")
@access("public")
async def share_landing(request: web.Request) -> web.StreamResponse:
    """A share link: a session that may watch one stream until the link expires."""
    auth = request.app[AUTH]
    # Every landing mints a session and writes the session store: limited per address
    # (failures also spend the address's failed-login budget, in the auth middleware).
    throttled = landing_throttled(request)
    if throttled is not None:
        return throttled
    try:
        link = auth.shares.verify(request.match_info["token"])
    except ShareError as exc:
        auth.failures.failed("share", request.remote or "?", str(exc), who="share:?")
        return json_error(401, "share_link_invalid", str(exc))
    auth.limits["login"].refund(request.remote or "?")  # only failures count
    if link.kind == "kiosk":  # the kiosk's own address mints its sessions (routes_kiosk)
        return _landing(link.path(request.match_info["token"]))
    response = _landing(f"/play/{link.stream}")
    try:
        await _start_session(
            request, response, "share", link.id, "share", cap=link.expires, stream=link.stream
        )
    except SessionsFull as exc:
        return json_error(503, "full", str(exc), headers={"Retry-After": "60"})
    return response
