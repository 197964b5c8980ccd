"""IncidentManager: starts, stops and holds incidents and keeps their table; owned by the Relay.

Loading and crash recovery live in loading.py, expiry in retention.py."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.audit import AuditLog
from relay.config import RecordingConfig
from relay.recording.errors import IncidentError
from relay.recording.export_worker import WORKER
from relay.recording.incident import Incident, public_source
from relay.recording.loading import load_incidents
from relay.recording.manifest import INCIDENT_ID, iso
from relay.recording.recorder import StreamRecorder
from relay.recording.retention import Retention
from relay.recording.tap import StreamTap
from relay.recording.telemetry_log import FILE_NAME as TELEMETRY_FILE
from relay.recording.telemetry_log import TelemetryLog
from relay.stream import Stream

log = logging.getLogger(__name__)

__all__ = ["MAX_ACTIVE", "IncidentError", "IncidentManager"]

MAX_ACTIVE = 8  # incidents recording at once


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
        self.retention = Retention(config, audit, self.incidents)
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Loads the incidents on disk, recovers those a crash left open, starts retention."""
        self.incidents.update(await asyncio.to_thread(load_incidents, self.root, self.audit))
        self._sweeper = asyncio.get_running_loop().create_task(self.retention.run())

    async def sweep(self, now: float | None = None) -> list[str]:
        """Deletes every expired incident not on hold now; returns their ids."""
        return await self.retention.sweep(now)

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
        await asyncio.to_thread(WORKER.close)

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
        for name in streams:
            if self.streams[name].config.telemetry:  # the drone's position is evidence too
                incident.telemetry_logs[name] = TelemetryLog(folder / name)
                manifest["recordings"][name]["telemetry"] = {
                    "file": f"{name}/{TELEMETRY_FILE}",
                    "open": True,
                    "start": iso(),
                }
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
        for name, tlog in incident.telemetry_logs.items():
            tlog.run()
            self.streams[name].telemetry.listeners.append(tlog.offer)
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
        WORKER.warm()  # ready for the incident's first snapshot or clip
        incident.folder.mkdir(parents=True, mode=0o750)
        try:
            for tlog in incident.telemetry_logs.values():
                tlog.start()
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
        for name, tlog in incident.telemetry_logs.items():
            listeners = self.streams[name].telemetry.listeners
            if tlog.offer in listeners:
                listeners.remove(tlog.offer)
        await asyncio.gather(
            *(asyncio.to_thread(r.stop) for r in incident.recorders.values()),
            *(tlog.close() for tlog in incident.telemetry_logs.values()),
        )
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
        incident.seal_telemetry()
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
