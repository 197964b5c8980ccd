"""The audit log for admins: as JSON, and as a page."""

from __future__ import annotations

import asyncio

from aiohttp import web

from relay.api.access import ALL_STREAMS, NO_STREAM, access
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.api.routes_web import web_dir

routes = web.RouteTableDef()

MAX_EVENTS = 5000


# The trail names every stream (and every login): for admins allowed every stream.
@routes.get("/api/audit")
@access("admin", streams=ALL_STREAMS)
async def audit_events(request: web.Request) -> web.Response:
    """The last ?limit= events (default 500), oldest first; ?event= filters by kind."""
    try:
        limit = int(request.query.get("limit", "500"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_EVENTS:
        return json_error(400, "bad_limit", f"limit must be within 1..{MAX_EVENTS}")
    events = await asyncio.to_thread(request.app[RELAY].audit.read, limit)
    kind = request.query.get("event")
    if kind:
        events = [e for e in events if e.get("event") == kind]
    return web.json_response({"events": events}, headers={"Cache-Control": "no-store"})


@routes.get("/audit")
@access("admin", streams=NO_STREAM)  # the page itself; its data comes from /api/audit
async def audit_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(web_dir() / "audit.html", headers={"Cache-Control": "no-cache"})
