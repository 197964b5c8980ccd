"""Every error answers JSON {"error", "reason"} with its HTTP status; headers that protect."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from relay.api.body import BodyError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def json_error(
    status: int, error: str, reason: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": error, "reason": reason}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except BodyError as exc:  # raised by the one body reader, from any route
        response = json_error(exc.status, exc.code, exc.reason)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = (
            exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else (exc.reason)
        )
        response = json_error(
            exc.status,
            exc.reason.lower().replace(" ", "_"),
            reason,
            headers={k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")},
        )
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = json_error(
            500, "internal_error", "the relay failed on this request; see its log"
        )
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response
