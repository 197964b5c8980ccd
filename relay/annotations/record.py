"""Marks kept with the incidents that record their stream, and in the audit log.

Each change (create, delete, clear) is one entry in the manifest's `annotations` list of
every running incident that records the stream: the manifest is the incident's evidence,
written atomically and hashed (relay.recording.manifest), so the marks are covered by the
same hash as the segments. Expiry is not written: a mark's entry says when it expires.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from relay.annotations.model import Annotation
from relay.audit import AuditLog
from relay.recording.incident import Incident
from relay.recording.manager import IncidentManager
from relay.recording.manifest import iso

log = logging.getLogger(__name__)

MAX_KEPT = 5000  # per incident: ~1 MB of manifest; past it entries are counted, not kept


def entry(action: str, stream: str, who: str, marks: list[Annotation]) -> dict[str, Any]:
    """One change as the manifest keeps it: when, who, what, with the marks' shapes."""
    return {
        "time": iso(),
        "action": action,
        "stream": stream,
        "by": who,
        "marks": [msgspec.to_builtins(m) for m in marks],
    }


def _keep(incident: Incident, item: dict[str, Any]) -> str:
    """Appends `item` to the manifest and saves it (blocking); returns the manifest hash."""
    with incident.lock:
        kept: list[dict[str, Any]] = incident.manifest.setdefault("annotations", [])
        if len(kept) >= MAX_KEPT:
            incident.manifest["annotations_dropped"] = (
                int(incident.manifest.get("annotations_dropped", 0)) + 1
            )
        else:
            kept.append(item)
        return incident.save()


async def keep(manager: IncidentManager, item: dict[str, Any]) -> list[str]:
    """Adds the change to every running incident of its stream; returns their ids. A
    manifest that cannot be written is logged: the mark is live anyway and audited."""
    stream = item["stream"]
    kept = []
    for incident in list(manager.incidents.values()):
        if not incident.active or stream not in incident.manifest["recordings"]:
            continue
        try:
            # In a thread: the save fsyncs, and the lock is shared with the recorders.
            await asyncio.to_thread(_keep, incident, item)
        except OSError as exc:
            log.error("[incident %s] annotation not saved: %s", incident.id, exc)
            continue
        kept.append(incident.id)
    return kept


def audit(
    log_: AuditLog, event: str, who: str, where: str, item: dict[str, Any], incidents: list[str]
) -> None:
    """One audit line per change, naming the incident that records the stream (so the
    incident's trail shows it); one per incident when several record it."""
    marks = item["marks"]
    details: dict[str, Any] = {
        "stream": item["stream"],
        "annotations": [m["id"] for m in marks],
    }
    if event == "annotation_created" and marks:
        mark = marks[0]
        details.update(kind=mark["kind"], label=mark.get("label", ""), colour=mark["colour"])
    if not incidents:
        log_.append(event, who, where, **details)
    for incident in incidents:
        log_.append(event, who, where, **details, incident=incident)
