"""Incidents: start and stop recordings, list them, serve their files, clips, snapshots.

Scope (relay.api.scope): an incident is shown with the streams the identity may watch and
hidden when it may watch none of them; stop and hold need every one of its streams.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from relay.api.access import BY_HANDLER, NO_STREAM, access, identity_of, in_body
from relay.api.body import read_json
from relay.api.errors import json_error
from relay.api.incident_views import audit_view, incident_view
from relay.api.keys import RELAY
from relay.api.routes_web import web_dir
from relay.api.scope import require_streams, visible_items, visible_streams
from relay.recording.exports import save_clip, save_snapshot
from relay.recording.incident import Incident
from relay.recording.manager import IncidentError, IncidentManager
from relay.recording.manifest import FILE_NAME, FOLDER, INCIDENT_ID

routes = web.RouteTableDef()

MAX_TITLE = 200
MAX_NOTE = 2000
MAX_STREAMS = 16
MAX_CLIP_S = 3600.0
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}


def _who(request: web.Request) -> tuple[str, str]:
    """(identity name, client address) for the audit log."""
    identity = identity_of(request)
    return (identity.name if identity else "anonymous"), request.remote or ""


def _manager(request: web.Request) -> IncidentManager:
    return request.app[RELAY].incidents


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request)


def _text(body: dict[str, Any], key: str, limit: int, required: bool) -> str:
    value = body.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise IncidentError(
            400,
            f"bad_{key}",
            f"{key!r} must be a non-empty string" if required else f"{key!r} must be a string",
        )
    if len(value) > limit or any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise IncidentError(
            400, f"bad_{key}", f"{key!r}: at most {limit} characters, no control characters"
        )
    return value.strip()


def _stream_of(request: web.Request, body: dict[str, Any], incident: Incident) -> str:
    stream = body.get("stream")
    if not isinstance(stream, str) or stream not in incident.manifest["recordings"]:
        raise IncidentError(
            400,
            "bad_stream",
            "'stream' must name one of the incident's "
            f"streams: {', '.join(incident.manifest['recordings'])}",
        )
    return stream


def _json(handler: Any) -> Any:
    """Turns IncidentError into the JSON error answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except IncidentError as exc:
            return json_error(exc.status, exc.code, exc.reason)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@routes.get("/incidents")
@access("operator", streams=NO_STREAM)  # the page; its data comes from the scoped API
async def incidents_page(request: web.Request) -> web.FileResponse:
    """The control room's page: incidents, playback, hashes, audit trail."""
    return web.FileResponse(web_dir() / "incidents.html", headers={"Cache-Control": "no-cache"})


@routes.post("/api/incidents")
@access("operator", streams=in_body("streams"))
@_json
async def create_incident(request: web.Request) -> web.Response:
    body = await _body(request)
    title = _text(body, "title", MAX_TITLE, required=True)
    note = _text(body, "note", MAX_NOTE, required=False)
    streams = body.get("streams")
    if (
        not isinstance(streams, list)
        or not streams
        or len(streams) > MAX_STREAMS
        or not all(isinstance(s, str) for s in streams)
        or len(set(streams)) != len(streams)
    ):
        raise IncidentError(
            400, "bad_streams", f"'streams' must list 1..{MAX_STREAMS} different stream names"
        )
    relay = request.app[RELAY]
    unknown = [s for s in streams if s not in relay.streams]
    if unknown:
        raise IncidentError(404, "unknown_stream", f"no stream named {unknown[0]!r}")
    incident = await _manager(request).create(title, streams, note, *_who(request))
    return web.json_response(
        {"id": incident.id, "status": "recording"},
        status=201,
        headers={"Location": f"/api/incidents/{incident.id}"},
    )


def _whole(request: web.Request) -> Incident:
    """The incident of the path, for a change to all of it: needs every one of its streams."""
    incident = _manager(request).get(request.match_info["id"])
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
@_json
async def stop_incident(request: web.Request) -> web.Response:
    incident = await _manager(request).stop(_whole(request).id, *_who(request))
    return web.json_response(incident_view(incident, False, incident.manifest["recordings"]))


@routes.get("/api/incidents")
@access("operator", streams=BY_HANDLER)
@_json
async def list_incidents(request: web.Request) -> web.Response:
    incidents = sorted(_manager(request).incidents.values(), key=lambda i: i.id, reverse=True)
    shown = visible_items(request, incidents, lambda i: i.manifest["recordings"])
    views = [incident_view(incident, False, visible) for incident, visible in shown]
    return web.json_response({"incidents": views})


def _locked_view(incident: Incident, visible: list[str]) -> dict[str, Any]:
    with incident.lock:
        return incident_view(incident, True, visible)


@routes.get("/api/incidents/{id}")
@access("operator", streams=BY_HANDLER)
@_json
async def get_incident(request: web.Request) -> web.Response:
    incident = _manager(request).get(request.match_info["id"])
    visible = _visible(request, incident)
    # In a thread: open segments are stat()ed, and the lock is shared with the recorders.
    view = await asyncio.to_thread(_locked_view, incident, visible)
    events = await asyncio.to_thread(request.app[RELAY].audit.read, 5000)
    shown = (audit_view(e, visible) for e in events if e.get("incident") == incident.id)
    view["audit"] = [e for e in shown if e is not None]
    return web.json_response(view)


@routes.post("/api/incidents/{id}/hold")
@access("admin", streams=BY_HANDLER)
@_json
async def hold_incident(request: web.Request) -> web.Response:
    incident_id = _whole(request).id
    body = await _body(request)
    hold = body.get("hold", True)
    if not isinstance(hold, bool):
        raise IncidentError(400, "bad_hold", "'hold' must be true or false")
    incident = await _manager(request).set_hold(incident_id, hold, *_who(request))
    return web.json_response(incident_view(incident, False, incident.manifest["recordings"]))


@routes.post("/api/incidents/{id}/clips")
@access("operator", streams=in_body("stream"))
@_json
async def create_clip(request: web.Request) -> web.Response:
    incident = _manager(request).get(request.match_info["id"])
    body = await _body(request)
    # Again: retention may have deleted it while the body arrived (busy from here on).
    incident = _manager(request).get(request.match_info["id"])
    stream = _stream_of(request, body, incident)
    from_s, to_s = body.get("from_s"), body.get("to_s")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (from_s, to_s)):
        raise IncidentError(400, "bad_range", "'from_s' and 'to_s' must be numbers")
    assert isinstance(from_s, int | float) and isinstance(to_s, int | float)
    if not 0 <= from_s < to_s or to_s - from_s > MAX_CLIP_S:
        raise IncidentError(
            400, "bad_range", f"need 0 <= from_s < to_s, at most {MAX_CLIP_S:g} s long"
        )
    incident.busy += 1  # retention leaves it alone meanwhile
    try:
        entry = await asyncio.to_thread(save_clip, incident, stream, float(from_s), float(to_s))
    except ValueError as exc:
        raise IncidentError(409, "no_clip", str(exc)) from None
    except OSError as exc:
        raise IncidentError(507, "recording_unwritable", f"cannot write the clip: {exc}") from None
    finally:
        incident.busy -= 1
    who, where = _who(request)
    request.app[RELAY].audit.append(
        "clip_export",
        who,
        where,
        incident=incident.id,
        stream=stream,  # an incident's events are shown per stream (incident_views)
        **{k: entry[k] for k in ("file", "sha256", "from_s", "to_s", "manifest_sha256")},
    )
    entry["url"] = f"/recordings/{incident.id}/{entry['file']}"
    entry["cut"] = "keyframes"
    entry["note"] = (
        "cut without re-encoding at the keyframe at or before from_s and the "
        "first keyframe at or after to_s; from_s/to_s are the real cut"
    )
    return web.json_response(entry, status=201)


@routes.post("/api/incidents/{id}/snapshots")
@access("operator", streams=in_body("stream"))
@_json
async def create_snapshot(request: web.Request) -> web.Response:
    incident = _manager(request).get(request.match_info["id"])
    body = await _body(request)
    # Again: retention may have deleted it while the body arrived (busy from here on).
    incident = _manager(request).get(request.match_info["id"])
    stream = _stream_of(request, body, incident)
    if not incident.active:
        raise IncidentError(409, "not_recording", "snapshots are taken while recording")
    gop = _manager(request).taps[stream].gop()
    if not gop:
        raise IncidentError(409, "no_picture", f"stream {stream!r} has no picture right now")
    incident.busy += 1  # retention leaves it alone meanwhile
    try:
        entry = await asyncio.to_thread(save_snapshot, incident, stream, gop)
    except ValueError as exc:
        raise IncidentError(409, "no_picture", str(exc)) from None
    except OSError as exc:
        raise IncidentError(507, "recording_unwritable", f"cannot save: {exc}") from None
    finally:
        incident.busy -= 1
    who, where = _who(request)
    request.app[RELAY].audit.append(
        "snapshot",
        who,
        where,
        incident=incident.id,
        stream=stream,
        file=entry["file"],
        sha256=entry["sha256"],
        manifest_sha256=entry["manifest_sha256"],
    )
    entry["url"] = f"/recordings/{incident.id}/{entry['file']}"
    return web.json_response(entry, status=201)


def resolve_file(
    manager: IncidentManager, incident_id: str, folder: str, name: str
) -> tuple[Path, str]:
    """The file behind a recording URL and the stream it shows; raises IncidentError for
    anything that is not plainly a file of that incident (names checked first, then the
    resolved path)."""
    if (
        not INCIDENT_ID.match(incident_id)
        or not FOLDER.match(folder)
        or not (FILE_NAME.match(name))
    ):
        raise IncidentError(404, "not_found", "no such recording file")
    incident = manager.get(incident_id)
    root = manager.root.resolve()
    path = (incident.folder / folder / name).resolve()
    expected = (root / incident_id / folder).resolve()
    # A symlink (or anything) leading elsewhere resolves elsewhere: refused.
    if path.parent != expected or expected.parent.parent != root or not path.is_file():
        raise IncidentError(404, "not_found", "no such recording file")
    if folder in incident.manifest["recordings"]:
        return path, folder  # a segment: its folder is its stream
    entries = [*incident.manifest.get("clips", []), *incident.manifest.get("snapshots", [])]
    stream = next((e.get("stream") for e in entries if e.get("file") == f"{folder}/{name}"), None)
    if not isinstance(stream, str):
        raise IncidentError(404, "not_found", "no such recording file")  # no stream: no one's
    return path, stream


@routes.get("/recordings/{id}/{folder}/{name}")
@access("operator", streams=BY_HANDLER)
@_json
async def recording_file(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    path, stream = await asyncio.to_thread(
        resolve_file, _manager(request), info["id"], info["folder"], info["name"]
    )
    require_streams(request, [stream])
    # FileResponse answers Range requests (206) and serves a growing file up to its size
    # at the time of the request.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES[path.suffix],
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{info["id"]}-{path.name}"',
        },
    )
