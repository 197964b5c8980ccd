"""IncidentManager: starts, stops, lists, holds and expires incidents; owned by the Relay."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.audit import AuditLog
from relay.config import RecordingConfig
from relay.recording.incident import Incident, public_source
from relay.recording.manifest import (
    INCIDENT_ID,
    iso,
    manifest_sha256,
    parse_iso,
    read_manifest,
)
from relay.recording.recorder import StreamRecorder
from relay.recording.tap import StreamTap
from relay.stream import Stream

log = logging.getLogger(__name__)

MAX_ACTIVE = 8  # incidents recording at once


class IncidentError(Exception):
    """A refused incident operation: HTTP status, error code and reason."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


class IncidentManager:
    """Every incident under the recordings folder, with a tap on every stream."""

    def __init__(
        self, config: RecordingConfig, audit: AuditLog, streams: Mapping[str, Stream]
    ) -> None:
        self.config = config
        self.root = Path(config.dir)
        self.audit = audit
        self.streams = streams
        self.taps = {name: StreamTap(name) for name in streams}
        for name, stream in streams.items():
            stream.unit_listeners.append(self.taps[name])
        self.incidents: dict[str, Incident] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Loads the incidents on disk, recovers those a crash left open, starts retention."""
        await asyncio.to_thread(self._load_and_recover)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def aclose(self) -> None:
        """Stops every recording cleanly (segments closed and hashed); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for incident in list(self.incidents.values()):
            if incident.active:
                await self.stop(incident.id, "relay", "", reason="relay shutdown")

    def get(self, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id) if INCIDENT_ID.match(incident_id) else None
        if incident is None:
            raise IncidentError(404, "unknown_incident", f"no incident {incident_id!r}")
        return incident

    async def create(
        self, title: str, streams: list[str], note: str, who: str, where: str
    ) -> Incident:
        """Starts recording `streams` under a new incident."""
        if sum(1 for i in self.incidents.values() if i.active) >= MAX_ACTIVE:
            raise IncidentError(
                409, "too_many_incidents", f"{MAX_ACTIVE} incidents are recording already; stop one"
            )
        now = datetime.now(UTC)
        incident_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        folder = self.root / incident_id
        manifest: dict[str, Any] = {
            "version": 1,
            "id": incident_id,
            "title": title,
            "note": note,
            "streams": streams,
            "created": iso(),
            "stopped": None,
            "status": "recording",
            "hold": False,
            "error": "",
            "created_by": who,
            "clips": [],
            "snapshots": [],
            "recordings": {
                name: {
                    "state": "recording",
                    "error": "",
                    "segments": [],
                    "source": public_source(self.streams[name].config.source),
                }
                for name in streams
            },
        }
        incident = Incident(folder, manifest, self.audit)
        try:
            await asyncio.to_thread(self._create_folder, incident)
        except OSError as exc:
            reason = f"cannot write the recordings folder {self.root}: {exc.strerror or exc}"
            log.error("[incident] %s", reason)
            self.audit.append("recording_failed", who, where, title=title, reason=reason)
            raise IncidentError(507, "recording_unwritable", reason) from None
        self.incidents[incident_id] = incident
        for name in streams:
            recorder = StreamRecorder(
                incident_id,
                name,
                folder / name,
                incident.on_segment,
                self._failed(incident),
                on_gap=incident.on_gap,
            )
            incident.recorders[name] = recorder
            recorder.start()
            self.taps[name].attach(recorder)
        self.audit.append(
            "incident_start",
            who,
            where,
            incident=incident_id,
            title=title,
            streams=streams,
            manifest_sha256=incident.last_hash,
        )
        log.info("[incident %s] recording %s: %s", incident_id, ", ".join(streams), title)
        return incident

    def _create_folder(self, incident: Incident) -> None:
        incident.folder.mkdir(parents=True, mode=0o750)
        try:
            incident.save()
        except BaseException:  # no folder without its manifest stays behind
            shutil.rmtree(incident.folder, ignore_errors=True)
            raise

    def _failed(self, incident: Incident) -> Any:
        def on_fail(stream: str, reason: str) -> None:
            self.taps[stream].detach(incident.recorders[stream])
            incident.on_fail(stream, reason)

        return on_fail

    async def stop(
        self, incident_id: str, who: str, where: str, reason: str = "stopped"
    ) -> Incident:
        """Stops the incident's recorders, hashes the last segments, seals the manifest."""
        incident = self.get(incident_id)
        if not incident.active:
            raise IncidentError(
                409,
                "not_recording",
                f"incident {incident_id} is {incident.manifest.get('status')}, not recording",
            )
        incident.manifest["status"] = "stopping"
        for name, recorder in incident.recorders.items():
            self.taps[name].detach(recorder)
        await asyncio.gather(*(asyncio.to_thread(r.stop) for r in incident.recorders.values()))
        try:
            manifest_hash = await asyncio.to_thread(self._seal, incident)
        except OSError as exc:
            # A full disk may refuse the manifest too: the state stays in memory and in
            # the log; the manifest on disk still names every segment written so far.
            manifest_hash = ""
            incident.manifest.update(
                status="failed", stopped=iso(), error=f"cannot save the manifest: {exc.strerror}"
            )
            log.error("[incident %s] %s", incident_id, incident.manifest["error"])
        self.audit.append(
            "incident_stop",
            who,
            where,
            incident=incident_id,
            reason=reason,
            manifest_sha256=manifest_hash,
        )
        log.info(
            "[incident %s] stopped (%s); manifest sha256 %s", incident_id, reason, manifest_hash
        )
        return incident

    def _seal(self, incident: Incident) -> str:
        incident.finish_open_segments(recovered=True)  # only a failed writer leaves one
        with incident.lock:
            failed = any(
                r.get("state") == "failed" for r in incident.manifest["recordings"].values()
            )
            incident.manifest.update(status="failed" if failed else "stopped", stopped=iso())
            return incident.save()

    async def set_hold(self, incident_id: str, hold: bool, who: str, where: str) -> Incident:
        incident = self.get(incident_id)
        # The incident's lock may be held by a recorder thread saving the manifest (fsync):
        # it is taken in a thread, never on the event loop.
        incident.busy += 1  # retention leaves it alone meanwhile
        try:
            manifest_hash = await asyncio.to_thread(self._save_hold, incident, hold)
        finally:
            incident.busy -= 1
        self.audit.append(
            "incident_hold" if hold else "incident_unhold",
            who,
            where,
            incident=incident_id,
            manifest_sha256=manifest_hash,
        )
        return incident

    @staticmethod
    def _save_hold(incident: Incident, hold: bool) -> str:
        with incident.lock:
            incident.manifest["hold"] = hold
            return incident.save()

    def _load_and_recover(self) -> None:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not INCIDENT_ID.match(folder.name) or not folder.is_dir():
                continue
            try:
                manifest = read_manifest(folder)
            except (OSError, ValueError) as exc:
                log.error("[incident] %s: unreadable manifest, left alone: %s", folder, exc)
                continue
            incident = Incident(folder, manifest, self.audit)
            incident.last_hash = manifest_sha256(folder)
            self.incidents[incident.id] = incident
            if manifest.get("status") in ("recording", "stopping"):
                self._recover(incident)

    def _recover(self, incident: Incident) -> None:
        files = incident.finish_open_segments(recovered=True)
        with incident.lock:
            incident.manifest.update(status="interrupted", stopped=iso(), recovered_at=iso())
            manifest_hash = incident.save()
        log.warning(
            "[incident %s] recovered after a crash: %s",
            incident.id,
            ", ".join(files) or "no open segment",
        )
        self.audit.append(
            "incident_recovered",
            "relay",
            "",
            incident=incident.id,
            files=files,
            manifest_sha256=manifest_hash,
        )

    async def _sweep_loop(self) -> None:
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
            files = await asyncio.to_thread(self._delete_folder, incident)
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

    @staticmethod
    def _delete_folder(incident: Incident) -> int | None:
        """Deletes the incident's folder (blocking); the number of files, None on failure."""
        files = sum(1 for p in incident.folder.rglob("*") if p.is_file())
        try:
            shutil.rmtree(incident.folder)
        except OSError as exc:
            log.error("[retention] cannot delete %s: %s", incident.folder, exc)
            return None
        return files
