"""The JSON views of an incident, cut to the streams an identity may watch (relay.api.scope)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from relay.recording.incident import Incident
from relay.sources.redact import redact_url


def _segment_view(incident: Incident, seg: dict[str, Any]) -> dict[str, Any]:
    view = {
        k: seg.get(k)
        for k in (
            "file",
            "sha256",
            "start",
            "end",
            "duration_s",
            "bytes",
            "frames",
            "source",
            "recovered",
            "open",
        )
    }
    # Manifests written before sources were redacted may still hold a key: never shown.
    view["source"] = redact_url(str(seg.get("source") or ""))
    view["url"] = f"/recordings/{incident.id}/{seg['file']}"
    if seg.get("open"):
        try:
            view["bytes"] = (incident.folder / seg["file"]).stat().st_size
        except OSError:
            view["bytes"] = 0
    return view


def incident_view(incident: Incident, full: bool, visible: Collection[str]) -> dict[str, Any]:
    """The JSON answer for one incident, with only the `visible` streams' recordings, clips
    and snapshots; `full` adds segments, clips, snapshots."""
    m = incident.manifest
    view: dict[str, Any] = {
        k: m.get(k)
        for k in ("id", "title", "note", "created", "stopped", "status", "hold", "error")
    }
    view["streams"] = [s for s in m.get("streams", []) if s in visible]
    recordings = []
    for name, rec in m["recordings"].items():
        if name not in visible:
            continue
        recorder = incident.recorders.get(name)
        entry: dict[str, Any] = {
            "stream": name,
            "state": rec.get("state"),
            "error": rec.get("error", ""),
            "duration_s": round(sum(s.get("duration_s") or 0 for s in rec["segments"]), 3),
            "segment_count": len(rec["segments"]),
        }
        if recorder is not None:
            entry.update(
                received=recorder.received, written=recorder.written, dropped=recorder.dropped
            )
        if full:
            entry["segments"] = [_segment_view(incident, s) for s in rec["segments"]]
        recordings.append(entry)
    view["recordings"] = recordings
    if full:
        for kind in ("clips", "snapshots"):
            view[kind] = [
                {**e, "url": f"/recordings/{incident.id}/{e['file']}"}
                for e in m.get(kind, [])
                if e.get("stream") in visible
            ]
        view["manifest_sha256"] = incident.last_hash
    return view


def audit_view(event: dict[str, Any], visible: Collection[str]) -> dict[str, Any] | None:
    """An incident's audit event as far as the identity may see it: events of a stream it
    may not watch are left out (named by `stream`, or by a file in that stream's folder:
    segment_closed), lists of streams are cut to the visible ones."""
    stream = event.get("stream")
    if isinstance(stream, str) and stream not in visible:
        return None
    file = event.get("file")
    if isinstance(file, str) and "/" in file:
        folder = file.split("/", 1)[0]
        if not folder.startswith("_") and folder not in visible:  # _clips, _snapshots: by stream
            return None
    streams = event.get("streams")
    if isinstance(streams, list):
        event = {**event, "streams": [s for s in streams if s in visible]}
    return event
