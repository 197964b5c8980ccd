"""The JSON views of an incident, cut to the streams an identity may watch (relay.api.scope).

Free text (a title, a note, a reason, an error) is typed by people or made from file paths
and cannot be cut by stream: "Brand Lagerhalle, bravo filmt die Rückseite" names bravo. So it
is shown only to an identity that may watch every stream the text is about (an incident's
streams; an audit event's own stream or streams, else its incident's), and otherwise
withheld: the field is emptied and named in ``withheld`` (docs/architecture.md, Scope).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from relay.recording.incident import Incident
from relay.sources.redact import redact_url

FREE_TEXT = ("title", "note", "reason", "error")


def _withhold(view: dict[str, Any], visible: Collection[str], about: Iterable[str]) -> None:
    """Leaves out `view`'s free text unless every stream it is `about` is visible."""
    if all(s in visible for s in about):
        return
    withheld = [k for k in FREE_TEXT if view.get(k)]
    for key in withheld:
        view[key] = ""  # the key stays: clients read it
    if withheld:
        view["withheld"] = withheld


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


def _telemetry_view(incident: Incident, stream: str, entry: dict[str, Any]) -> dict[str, Any]:
    view = {
        k: entry.get(k)
        for k in ("file", "sha256", "bytes", "samples", "dropped", "start", "end", "open")
    }
    view["url"] = f"/recordings/{incident.id}/{entry['file']}"
    tlog = incident.telemetry_logs.get(stream)
    if entry.get("open") and tlog is not None:
        view["samples"], view["dropped"] = tlog.samples, tlog.dropped
    return view


def incident_view(incident: Incident, full: bool, visible: Collection[str]) -> dict[str, Any]:
    """The JSON answer for one incident, with only the `visible` streams' recordings, clips
    and snapshots; `full` adds segments, clips, snapshots."""
    m = incident.manifest
    view: dict[str, Any] = {
        k: m.get(k)
        for k in ("id", "title", "note", "created", "stopped", "status", "hold", "error")
    }
    _withhold(view, visible, m["recordings"])
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
        if full and rec.get("telemetry"):
            entry["telemetry"] = _telemetry_view(incident, name, rec["telemetry"])
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


def audit_view(
    event: dict[str, Any], visible: Collection[str], streams: Collection[str]
) -> dict[str, Any] | None:
    """An audit event of an incident with `streams`, as far as the identity may see it:
    events of a stream it may not watch are left out (named by `stream`, or by a file in
    that stream's folder: segment_closed), lists of streams and files are cut to the visible
    ones, free text is withheld unless the identity may watch all the event is about."""
    stream = event.get("stream")
    if isinstance(stream, str) and stream not in visible:
        return None
    file = event.get("file")
    if isinstance(file, str) and _folder(file) not in (None, *visible):
        return None
    named = event.get("streams")
    about = [stream] if isinstance(stream, str) else named if isinstance(named, list) else streams
    event = dict(event)
    _withhold(event, visible, about)
    if isinstance(named, list):
        event["streams"] = [s for s in named if s in visible]
    files = event.get("files")
    if isinstance(files, list):
        event["files"] = [f for f in files if _folder(str(f)) in (None, *visible)]
    return event


def _folder(file: str) -> str | None:
    """The stream whose folder holds `file` (``bravo/seg-00001.mp4``); None for files that
    are not in a stream's folder (_clips, _snapshots: those events name their stream)."""
    folder = file.split("/", 1)[0] if "/" in file else None
    return None if folder is None or folder.startswith("_") else folder
