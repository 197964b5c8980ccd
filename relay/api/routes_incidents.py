"""Incidents: start, stop and hold recordings, list them, show one with its audit trail.
Their files, clips and snapshots: relay.api.routes_incident_files.

Scope (relay.api.scope): an incident is shown with the streams the identity may watch and
hidden when it may watch none of them; stop and hold need every one of its streams.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from relay.api.access import BY_HANDLER, NO_STREAM, access, in_body
from relay.api.body import check_body, read_json
from relay.api.incident_http import json_errors, manager, who
from relay.api.incident_views import audit_view, incident_view
from relay.api.keys import RELAY
from relay.api.routes_web import web_dir
from relay.api.schemas import HoldBody, IncidentBody
from relay.api.scope import require_streams, visible_items, visible_streams
from relay.recording.incident import Incident
from relay.recording.manager import IncidentError

routes = web.RouteTableDef()


@routes.get("/incidents")
@access("operator", streams=NO_STREAM)  # the page; its data comes from the scoped API
async def incidents_page(request: web.Request) -> web.FileResponse:
    """The control room's page: incidents, playback, hashes, audit trail."""
    return web.FileResponse(web_dir() / "incidents.html", headers={"Cache-Control": "no-cache"})


@routes.post("/api/incidents")
@access("operator", streams=in_body("streams"))
@json_errors
async def create_incident(request: web.Request) -> web.Response:
    body = check_body(await read_json(request), IncidentBody)
    relay = request.app[RELAY]
    unknown = [s for s in body.streams if s not in relay.streams]
    if unknown:
        raise IncidentError(404, "unknown_stream", f"no stream named {unknown[0]!r}")
    incident = await manager(request).create(body.title, body.streams, body.note, *who(request))
    return web.json_response(
        {"id": incident.id, "status": "recording"},
        status=201,
        headers={"Location": f"/api/incidents/{incident.id}"},
    )


def _whole(request: web.Request) -> Incident:
    """The incident of the path, for a change to all of it: needs every one of its streams."""
    incident = manager(request).get(request.match_info["id"])
    require_streams(request, incident.manifest["recordings"])
    return incident


def _visible(request: web.Request, incident: Incident) -> list[str]:
    """The incident's streams the identity may watch; 403 when it may watch none."""
    streams = visible_streams(request, incident.manifest["recordings"])
    if not streams:
        require_streams(request, incident.manifest["recordings"])  # raises the 403
    return streams


@routes.post("/api/incidents/{id}/stop")
@access("operator", streams=BY_HANDLER)
@json_errors
async def stop_incident(request: web.Request) -> web.Response:
    incident = await manager(request).stop(_whole(request).id, *who(request))
    return web.json_response(incident_view(incident, False, incident.manifest["recordings"]))


@routes.get("/api/incidents")
@access("operator", streams=BY_HANDLER)
@json_errors
async def list_incidents(request: web.Request) -> web.Response:
    incidents = sorted(manager(request).incidents.values(), key=lambda i: i.id, reverse=True)
    shown = visible_items(request, incidents, lambda i: i.manifest["recordings"])
    views = [incident_view(incident, False, visible) for incident, visible in shown]
    return web.json_response({"incidents": views})


def _locked_view(incident: Incident, visible: list[str]) -> dict[str, Any]:
    with incident.lock:
        return incident_view(incident, True, visible)


@routes.get("/api/incidents/{id}")
@access("operator", streams=BY_HANDLER)
@json_errors
async def get_incident(request: web.Request) -> web.Response:
    incident = manager(request).get(request.match_info["id"])
    visible = _visible(request, incident)
    # In a thread: open segments are stat()ed, and the lock is shared with the recorders.
    view = await asyncio.to_thread(_locked_view, incident, visible)
    events = await asyncio.to_thread(request.app[RELAY].audit.read, 5000, incident.id)
    streams = list(incident.manifest["recordings"])
    shown = (audit_view(e, visible, streams) for e in events)  # read() kept this incident's
    view["audit"] = [e for e in shown if e is not None]
    return web.json_response(view)


@routes.post("/api/incidents/{id}/hold")
@access("admin", streams=BY_HANDLER)
@json_errors
async def hold_incident(request: web.Request) -> web.Response:
    incident_id = _whole(request).id
    body = check_body(await read_json(request), HoldBody)
    incident = await manager(request).set_hold(incident_id, body.hold, *who(request))
    return web.json_response(incident_view(incident, False, incident.manifest["recordings"]))
