"""Loading the incidents on disk at start, and recovering those a crash left open."""

from __future__ import annotations

import logging
from pathlib import Path

from relay.audit import AuditLog
from relay.recording.incident import Incident
from relay.recording.manifest import INCIDENT_ID, iso, manifest_sha256, read_manifest

log = logging.getLogger(__name__)


def load_incidents(root: Path, audit: AuditLog) -> dict[str, Incident]:
    """Every incident under `root` by id (blocking); a manifest still saying `recording` or
    `stopping` belongs to a relay that crashed: its open segments are recovered."""
    incidents: dict[str, Incident] = {}
    if not root.is_dir():
        return incidents
    for folder in sorted(root.iterdir()):
        if not INCIDENT_ID.match(folder.name) or not folder.is_dir():
            continue
        try:
            manifest = read_manifest(folder)
        except (OSError, ValueError) as exc:
            log.error("[incident] %s: unreadable manifest, left alone: %s", folder, exc)
            continue
        incident = Incident(folder, manifest, audit)
        incident.last_hash = manifest_sha256(folder)
        incidents[incident.id] = incident
        if manifest.get("status") in ("recording", "stopping"):
            _recover(incident, audit)
    return incidents


def _recover(incident: Incident, audit: AuditLog) -> None:
    files = incident.finish_open_segments(recovered=True)
    with incident.lock:
        incident.manifest.update(status="interrupted", stopped=iso(), recovered_at=iso())
        manifest_hash = incident.save()
    log.warning(
        "[incident %s] recovered after a crash: %s",
        incident.id,
        ", ".join(files) or "no open segment",
    )
    audit.append(
        "incident_recovered",
        "relay",
        "",
        incident=incident.id,
        files=files,
        manifest_sha256=manifest_hash,
    )
