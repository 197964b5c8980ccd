"""Retention: deletes every incident older than the configured days that is not on hold."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time

from relay.audit import AuditLog
from relay.config import RecordingConfig
from relay.recording.incident import Incident
from relay.recording.manifest import parse_iso

log = logging.getLogger(__name__)


class Retention:
    """Sweeps the manager's incident table (owned by the event loop) now and then."""

    def __init__(
        self, config: RecordingConfig, audit: AuditLog, incidents: dict[str, Incident]
    ) -> None:
        self.config = config
        self.audit = audit
        self.incidents = incidents

    async def run(self) -> None:
        """Sweeps every `sweep_interval_s` until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:  # a bug in one sweep must not end retention for good
                log.exception("[retention] sweep failed")
            await asyncio.sleep(self.config.sweep_interval_s)

    async def sweep(self, now: float | None = None) -> list[str]:
        """Deletes every expired incident not on hold; returns their ids.

        The event loop owns `self.incidents`: expiry is decided and an incident taken out of
        the table here, on the loop, so no handler finds it half deleted (they answer 404
        from then on) and no handler's hold or export can slip in between the decision and
        the deletion; an incident a handler is working on (`busy`) waits for the next sweep.
        Only the file work (counting, rmtree) runs in a thread."""
        now = time.time() if now is None else now
        keep_s = self.config.retention_days * 86400
        expired = []
        for incident in list(self.incidents.values()):
            m = incident.manifest
            if incident.active or incident.busy or m.get("status") == "stopping" or m.get("hold"):
                continue
            if now - parse_iso(m.get("stopped") or m["created"]) >= keep_s:
                del self.incidents[incident.id]
                expired.append(incident)
        deleted = []
        for incident in expired:
            files = await asyncio.to_thread(delete_folder, incident)
            if files is None:
                self.incidents[incident.id] = incident  # still on disk: still listed
                continue
            deleted.append(incident.id)
            m = incident.manifest
            self.audit.append(
                "incident_deleted",
                "retention",
                "",
                incident=incident.id,
                title=m.get("title", ""),
                stopped=m.get("stopped"),
                retention_days=self.config.retention_days,
                files=files,
                manifest_sha256=incident.last_hash or None,
            )
            log.info("[retention] deleted incident %s (ended %s)", incident.id, m.get("stopped"))
        return deleted


def delete_folder(incident: Incident) -> int | None:
    """Deletes the incident's folder (blocking); the number of files, None on failure."""
    files = sum(1 for p in incident.folder.rglob("*") if p.is_file())
    try:
        shutil.rmtree(incident.folder)
    except OSError as exc:
        log.error("[retention] cannot delete %s: %s", incident.folder, exc)
        return None
    return files
