"""The auth middleware: every route's declared decision, enforced before its handler runs.

Identity comes from ``Authorization: Bearer`` (tokens), else from the session cookie (a
password or token login, or a share link). No identity: 401; not allowed: 403 (its role, or
a stream outside its scope: relay.api.scope); a route without a decision or without a scope
decision: 500, and the route-table test fails before such a route can ship.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from relay.api import scope
from relay.api.access import IDENTITY_KEY, NO_STREAM, ROLE_OF_NEED, Access, Identity, access_of
from relay.api.errors import json_error
from relay.api.keys import AUTH
from relay.api.routes_web import web_dir
from relay.auth.ratelimit import retry_after
from relay.auth.service import Auth

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "relay_session"
CSRF_COOKIE = "relay_csrf"  # readable by the page's scripts, which echo it in CSRF_HEADER
CSRF_HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC = Access("public", streams=NO_STREAM)


def decision_for(route: AbstractRoute) -> Access | None:
    """A route's access decision: static files are public, the rest declare one."""
    if isinstance(route.resource, web.StaticResource):
        return PUBLIC
    return access_of(route.handler)


def _limiter_for(request: web.Request, decision: Access) -> str | None:
    if request.method == "POST" and request.path.startswith("/whep/"):
        return "whep"
    # WHIP offers only: a ground station pushes telemetry at up to 10 Hz (routes_telemetry).
    if (
        request.method == "POST"
        and decision.need == "publish"
        and request.path.startswith("/whip/")
    ):
        return "whip"
    if login_method(request) is not None:
        return "login"
    return None


def login_method(request: web.Request) -> str | None:
    """The kind of login a request attempts (for the limit and the audit), if any."""
    if request.method == "POST" and request.path == "/api/login":
        return "password"
    if request.path == "/login" and "token" in request.query:
        return "token-url"
    if request.path.startswith("/s/"):
        return "share"
    return None


def _resolve(auth: Auth, request: web.Request) -> tuple[Identity | None, str | None]:
    """(identity, problem): a Bearer header that does not name a token is a problem, not
    anonymous; a stale cookie is just anonymous."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "Authorization must be 'Bearer <token>'"
        identity = auth.by_token(token.strip())
        return identity, None if identity else "unknown token"
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        return auth.by_session(session_id), None
    return None, None


def unauthenticated(
    request: web.Request, reason: str, error: str = "unauthenticated"
) -> web.StreamResponse:
    """401: a person's browser asking for a page gets the login form (the URL stays, so
    the page loads after logging in); everything else gets JSON."""
    challenge = 'Bearer realm="drone-relay"' + (
        ', error="invalid_token"' if error == "invalid_token" else ""
    )
    headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
    if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
        return web.FileResponse(web_dir() / "login.html", status=401, headers=headers)
    return json_error(401, error, reason, headers=headers)


def _csrf_ok(request: web.Request, identity: Identity) -> bool:
    if identity.session is None or request.method not in STATE_CHANGING:
        return True  # Bearer requests carry no ambient credential: nothing to forge
    sent = request.headers.get(CSRF_HEADER, "")
    expected = (identity.csrf or "").encode()
    return bool(expected) and hmac.compare_digest(sent.encode(), expected)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:
        return await handler(request)  # no route: 404/405 as usual
    decision = decision_for(match.route)
    if decision is None:
        log.error(
            "[auth] %s %s: the route declares no access decision (@access): refused",
            request.method,
            match.route.resource and match.route.resource.canonical,
        )
        return json_error(
            500, "no_access_decision", "this route declares no access decision; refused"
        )
    if decision.streams is None:
        # Scope is decided per route, like access: a route that does not say where its
        # streams are could show any stream's pictures. Refused (and the route-table test
        # fails) until it says.
        log.error(
            "[auth] %s %s: the route declares no scope (@access(..., streams=...)): refused",
            request.method,
            match.route.resource and match.route.resource.canonical,
        )
        return json_error(500, "no_scope_decision", "this route declares no scope; refused")
    auth = request.app[AUTH]
    where = request.remote or "?"
    limiter = _limiter_for(request, decision)
    if limiter is not None:
        # A successful login gives its token back (routes_auth): a control room's tablets
        # behind one address may all log in; a guesser is stopped after a few tries, also
        # when sending them all at once.
        wait = auth.limits[limiter].take(where)
        if wait:
            method = login_method(request)
            if method is not None:
                auth.failures.throttled(method, where)
            return _too_many(limiter, wait)
    identity, problem = _resolve(auth, request)
    if problem is not None:
        # A wrong Bearer token spends the address's budget of failed logins; once it is
        # spent, wrong tokens get 429 (counted, not a line each). Right tokens always pass:
        # one misconfigured tablet must not lock out the control room behind the same NAT,
        # and a token (16+ random characters) cannot be guessed at any rate we allow.
        wait = auth.limits["login"].take(where)
        if wait:
            auth.failures.throttled("bearer", where)
            return _too_many("login", wait)
        auth.failures.failed("bearer", where, problem)
    if identity is not None:
        request[IDENTITY_KEY] = identity
    if decision.need == "public":
        return await handler(request)
    if problem is not None:
        return unauthenticated(request, problem, "invalid_token")
    if identity is None:
        return unauthenticated(request, "log in, or send Authorization: Bearer <token>")
    if not _csrf_ok(request, identity):
        return json_error(
            403,
            "csrf",
            f"a state change from a browser session needs the "
            f"{CSRF_HEADER} header (GET /api/me, or the {CSRF_COOKIE} cookie)",
        )
    if not identity.allows(decision, match):
        return json_error(403, "forbidden", _why_not(identity, decision, match))
    refused = await scope.refusal(request, identity, decision)
    if refused is not None:
        return refused
    response = await handler(request)
    if scope.unchecked(request, decision, response):
        return json_error(500, "scope_not_checked", "this route never checked its streams")
    return response


def _too_many(limiter: str, wait: float) -> web.Response:
    return json_error(
        429,
        "rate_limited",
        f"too many {limiter} requests from this address; retry later",
        headers={"Retry-After": retry_after(wait)},
    )


def _why_not(identity: Identity, decision: Access, match: web.UrlMappingMatchInfo) -> str:
    stream = match.get(decision.stream_key) if decision.stream_key else None
    if decision.need == "publish":
        return f"{identity.name} has no right to publish to {stream!r}"
    role = identity.role.name.lower()
    if identity.role < ROLE_OF_NEED[decision.need]:
        return f"{identity.name} is {role}; this needs {decision.need}"
    return f"{identity.name} may not watch the stream {stream!r}"
