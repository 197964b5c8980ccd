"""An incident's files: clips and snapshots made on request, and every recorded file served.

Scope (relay.api.scope): a clip or snapshot names its stream in the body; a file belongs to
the stream of its folder (a segment) or of its manifest entry (a clip, a snapshot).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from relay.api.access import BY_HANDLER, access, in_body
from relay.api.body import check_body, read_json
from relay.api.incident_http import json_errors, manager, who
from relay.api.keys import RELAY
from relay.api.schemas import ClipBody, SnapshotBody
from relay.api.scope import require_streams
from relay.recording.exports import save_clip, save_snapshot
from relay.recording.incident import Incident
from relay.recording.manager import IncidentError, IncidentManager
from relay.recording.manifest import FILE_NAME, FOLDER, INCIDENT_ID

routes = web.RouteTableDef()

CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jsonl": "application/x-ndjson"}
# The manifest entry's fields that go into the audit line of each kind of export.
AUDITED = {
    "clip_export": ("file", "sha256", "from_s", "to_s", "manifest_sha256"),
    "snapshot": ("file", "sha256", "manifest_sha256"),
}


async def _incident_and_body(request: web.Request, schema: Any) -> tuple[Incident, Any]:
    """The incident of the path and the checked body; the incident is looked up again after
    the body arrived: retention may have deleted it meanwhile (busy from then on)."""
    manager(request).get(request.match_info["id"])
    body = check_body(await read_json(request), schema)
    incident = manager(request).get(request.match_info["id"])
    if body.stream not in incident.manifest["recordings"]:
        raise IncidentError(
            400,
            "bad_stream",
            "'stream' must name one of the incident's "
            f"streams: {', '.join(incident.manifest['recordings'])}",
        )
    return incident, body


async def _export(
    request: web.Request,
    incident: Incident,
    stream: str,
    event: str,
    save: Callable[[], dict[str, Any]],
    no_export: str,
) -> dict[str, Any]:
    """Runs `save` off the loop while retention leaves the incident alone, audits the new
    file as `event` and returns its manifest entry with its URL."""
    incident.busy += 1
    try:
        entry = await asyncio.to_thread(save)
    except ValueError as exc:
        raise IncidentError(409, no_export, str(exc)) from None
    except OSError as exc:
        raise IncidentError(507, "recording_unwritable", f"cannot save: {exc}") from None
    finally:
        incident.busy -= 1
    request.app[RELAY].audit.append(
        event,
        *who(request),
        incident=incident.id,
        stream=stream,  # an incident's events are shown per stream (incident_views)
        **{k: entry[k] for k in AUDITED[event]},
    )
    entry["url"] = f"/recordings/{incident.id}/{entry['file']}"
    return entry


@routes.post("/api/incidents/{id}/clips")
@access("operator", streams=in_body("stream"))
@json_errors
async def create_clip(request: web.Request) -> web.Response:
    incident, body = await _incident_and_body(request, ClipBody)
    clip: ClipBody = body

    def save() -> dict[str, Any]:
        return save_clip(incident, clip.stream, clip.from_s, clip.to_s)

    entry = await _export(request, incident, clip.stream, "clip_export", save, "no_clip")
    entry["cut"] = "keyframes"
    entry["note"] = (
        "cut without re-encoding at the keyframe at or before from_s and the "
        "first keyframe at or after to_s; from_s/to_s are the real cut"
    )
    return web.json_response(entry, status=201)


@routes.post("/api/incidents/{id}/snapshots")
@access("operator", streams=in_body("stream"))
@json_errors
async def create_snapshot(request: web.Request) -> web.Response:
    incident, body = await _incident_and_body(request, SnapshotBody)
    stream: str = body.stream
    if not incident.active:
        raise IncidentError(409, "not_recording", "snapshots are taken while recording")
    gop = manager(request).taps[stream].gop()
    if not gop:
        raise IncidentError(409, "no_picture", f"stream {stream!r} has no picture right now")
    entry = await _export(
        request,
        incident,
        stream,
        "snapshot",
        lambda: save_snapshot(incident, stream, gop),
        "no_picture",
    )
    return web.json_response(entry, status=201)


def resolve_file(
    incidents: IncidentManager, incident_id: str, folder: str, name: str
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
    incident = incidents.get(incident_id)
    root = incidents.root.resolve()
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
@json_errors
async def recording_file(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    path, stream = await asyncio.to_thread(
        resolve_file, manager(request), info["id"], info["folder"], info["name"]
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
