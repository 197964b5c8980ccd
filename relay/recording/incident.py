"""Incident: one manifest and its recorders; every manifest change is saved atomically."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

from relay.audit import AuditLog
from relay.recording.manifest import iso, write_manifest
from relay.recording.recorder import GapEvent, SegmentEvent, StreamRecorder
from relay.recording.recovery import truncate_to_complete
from relay.recording.segment import probe, sha256_file
from relay.recording.telemetry_log import TelemetryLog, recover
from relay.sources.redact import redact_url

log = logging.getLogger(__name__)

USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def public_source(url: str) -> str:
    """The source URL without its secrets (the manifest is evidence, not a secret store)."""
    return redact_url(url)


class Incident:
    """An incident's folder, manifest and (while recording) one recorder per stream."""

    def __init__(self, folder: Path, manifest: dict[str, Any], audit: AuditLog) -> None:
        self.folder = folder
        self.manifest = manifest
        self.audit = audit
        self.lock = threading.RLock()
        self.recorders: dict[str, StreamRecorder] = {}
        self.telemetry_logs: dict[str, TelemetryLog] = {}
        self.last_hash = ""
        # Handlers working on the files in a thread (clip export, snapshot): retention
        # leaves a busy incident for its next sweep. Changed on the event loop only.
        self.busy = 0

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def active(self) -> bool:
        return self.manifest.get("status") == "recording"

    def save(self) -> str:
        """Writes the manifest (blocking); returns its SHA-256."""
        with self.lock:
            self.last_hash = write_manifest(self.folder, self.manifest)
            return self.last_hash

    def recording(self, stream: str) -> dict[str, Any]:
        recordings: dict[str, Any] = self.manifest["recordings"]
        return dict(recordings[stream])

    def on_segment(self, event: SegmentEvent) -> None:
        """From a recorder thread: a segment opened or closed."""
        rel = event.path.relative_to(self.folder).as_posix()
        with self.lock:
            rec = self.manifest["recordings"][event.stream]
            if not event.closed:
                rec["segments"].append(
                    {
                        "file": rel,
                        "start": iso(event.start_unix_ns),
                        "open": True,
                        "source": rec.get("source", ""),
                        "recovered": False,
                    }
                )
                self.save()
                return
        digest, size = sha256_file(event.path)  # outside the lock: a big file takes a while
        with self.lock:
            entry = next(s for s in rec["segments"] if s["file"] == rel)
            entry.update(
                sha256=digest,
                bytes=size,
                frames=event.frames,
                duration_s=event.duration_s,
                open=False,
                end=iso(event.start_unix_ns + int(event.duration_s * 1e9)),
            )
            manifest_hash = self.save()
        self.audit.append(
            "segment_closed",
            "recorder",
            "",
            incident=self.id,
            file=rel,
            sha256=digest,
            manifest_sha256=manifest_hash,
        )

    def on_gap(self, event: GapEvent) -> None:
        """From a recorder thread: the source was down; the manifest says from when to when."""
        with self.lock:
            rec = self.manifest["recordings"][event.stream]
            rec.setdefault("gaps", []).append(
                {
                    "start": iso(event.start_unix_ns),
                    "end": iso(event.end_unix_ns),
                    "seconds": round((event.end_unix_ns - event.start_unix_ns) / 1e9, 3),
                    # A source's error may quote its URL: never its user:password here.
                    "reason": USERINFO.sub(r"\1", event.reason)[:200],
                }
            )
            self.save()

    def on_fail(self, stream: str, reason: str) -> None:
        """From a recorder thread: the recording of `stream` stopped on an error."""
        with self.lock:
            rec = self.manifest["recordings"][stream]
            rec["state"], rec["error"] = "failed", reason
            if all(r.get("state") == "failed" for r in self.manifest["recordings"].values()):
                self.manifest["error"] = reason
            try:
                self.save()
            except OSError as exc:  # the same full disk: the error is still in memory + log
                log.error("[incident %s] cannot save the manifest: %s", self.id, exc)
        self.audit.append(
            "recording_failed", "recorder", "", incident=self.id, stream=stream, reason=reason
        )

    def finish_open_segments(self, recovered: bool) -> list[str]:
        """Makes every segment still marked open playable, hashed (blocking); returns names."""
        done = []
        with self.lock:
            for stream, rec in self.manifest["recordings"].items():
                if rec.get("state") == "recording":
                    rec["state"] = "stopped"
                kept = []
                for seg in rec["segments"]:
                    if not seg.get("open"):
                        kept.append(seg)
                        continue
                    if self._finish(seg, recovered):
                        kept.append(seg)
                        done.append(seg["file"])
                    else:
                        log.warning(
                            "[incident %s] %s/%s: nothing playable, dropped",
                            self.id,
                            stream,
                            seg["file"],
                        )
                rec["segments"] = kept
                entry = rec.get("telemetry")
                if entry is not None and entry.get("open"):
                    if self._finish_telemetry(entry, recovered):
                        done.append(entry["file"])
                    else:
                        del rec["telemetry"]
        return done

    def seal_telemetry(self) -> None:
        """Hashes each closed telemetry file into the manifest (blocking; after close)."""
        with self.lock:
            for stream, tlog in self.telemetry_logs.items():
                entry = self.manifest["recordings"][stream].get("telemetry")
                if entry is None or not entry.get("open"):
                    continue
                digest, size = sha256_file(tlog.path)
                entry.update(
                    open=False,
                    sha256=digest,
                    bytes=size,
                    samples=tlog.samples,
                    dropped=tlog.dropped,
                    error=tlog.error,
                    end=iso(),
                )

    def _finish_telemetry(self, entry: dict[str, Any], recovered: bool) -> bool:
        """A telemetry file a crash left open: its torn last line cut, then hashed."""
        path = self.folder / entry["file"]
        try:
            samples = recover(path)
        except OSError as exc:
            log.warning("[incident %s] %s: unrecoverable: %s", self.id, path, exc)
            return False
        digest, size = sha256_file(path)
        entry.update(open=False, recovered=recovered, sha256=digest, bytes=size, samples=samples)
        return True

    def _finish(self, seg: dict[str, Any], recovered: bool) -> bool:
        path = self.folder / seg["file"]
        try:
            _, kept = truncate_to_complete(path)
            frames, duration = probe(path) if kept else (0, 0.0)
        except (OSError, ValueError) as exc:
            log.warning("[incident %s] %s: unrecoverable: %s", self.id, path, exc)
            frames, duration = 0, 0.0
        if frames == 0:
            path.unlink(missing_ok=True)
            return False
        digest, size = sha256_file(path)
        seg.update(
            open=False,
            recovered=recovered,
            sha256=digest,
            bytes=size,
            frames=frames,
            duration_s=round(duration, 3),
        )
        return True
