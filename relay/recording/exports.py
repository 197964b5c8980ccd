"""Clips and snapshots saved into an incident, hashed and listed in its manifest."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from relay.durable import write_synced
from relay.media.access_unit import AccessUnit
from relay.recording.clip import export_and_hash
from relay.recording.export_worker import WORKER
from relay.recording.incident import Incident
from relay.recording.manifest import iso
from relay.recording.snapshot import snapshot_jpeg

MAX_FILES = 999  # clips or snapshots per incident


def _next_path(incident: Incident, folder: str, kind: str, prefix: str, ext: str) -> Path:
    """The next free file name, created empty (O_EXCL) so that an export running at the
    same time cannot pick it too; call with the incident's lock held."""
    if len(incident.manifest[kind]) >= MAX_FILES:
        raise ValueError(f"an incident holds at most {MAX_FILES} {kind}")
    (incident.folder / folder).mkdir(exist_ok=True)
    for number in range(len(incident.manifest[kind]) + 1, MAX_FILES + 1):
        path = incident.folder / folder / f"{prefix}-{number:03d}.{ext}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
        except FileExistsError:
            continue
        return path
    raise ValueError(f"an incident holds at most {MAX_FILES} {kind}")


def save_clip(incident: Incident, stream: str, from_s: float, to_s: float) -> dict[str, Any]:
    """Exports a clip into _clips/ (blocking: waits for the export worker process); raises
    ValueError/OSError, IncidentError(503) when the worker's queue is full.

    The incident's lock is held only to read the segment list and to add the entry: the
    recorder threads take it to open and close segments, and an export (a minute of video
    or more) holding it would stall them until their queues overflow and frames are lost."""
    with incident.lock:
        segments = [
            dict(s)
            for s in incident.manifest["recordings"][stream]["segments"]
            if not s.get("open")
        ]
        if not segments:
            raise ValueError(f"no finished segment of {stream!r} yet")
        path = _next_path(incident, "_clips", "clips", "clip", "mp4")
    try:
        cut, digest, size = WORKER.run(
            export_and_hash, incident.folder, segments, from_s, to_s, path
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    entry = {
        "file": path.relative_to(incident.folder).as_posix(),
        "stream": stream,
        "sha256": digest,
        "bytes": size,
        "created": iso(),
        "from_s": cut.start_s,
        "to_s": cut.end_s,
        "duration_s": round(cut.end_s - cut.start_s, 3),
        "frames": cut.frames,
        "asked_from_s": from_s,
        "asked_to_s": to_s,
    }
    with incident.lock:
        incident.manifest["clips"].append(entry)
        manifest_hash = incident.save()
    return {**entry, "manifest_sha256": manifest_hash}


def save_snapshot(incident: Incident, stream: str, gop: list[AccessUnit]) -> dict[str, Any]:
    """Decodes the newest picture (in the export worker process) and saves it into
    _snapshots/ (blocking); raises ValueError/OSError, IncidentError(503) when busy."""
    jpeg, width, height = WORKER.run(snapshot_jpeg, gop)
    with incident.lock:
        path = _next_path(incident, "_snapshots", "snapshots", "snap", "jpg")
        # Into the file _next_path reserved (created empty), synced.
        write_synced(path, jpeg, os.O_TRUNC, 0o640)
        entry = {
            "file": path.relative_to(incident.folder).as_posix(),
            "stream": stream,
            "sha256": hashlib.sha256(jpeg).hexdigest(),
            "bytes": len(jpeg),
            "created": iso(),
            "width": width,
            "height": height,
        }
        incident.manifest["snapshots"].append(entry)
        manifest_hash = incident.save()
    return {**entry, "manifest_sha256": manifest_hash}
