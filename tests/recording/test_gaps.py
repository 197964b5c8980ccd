"""A gap in a recording is in the manifest, with its times and reason, and no secret."""

from __future__ import annotations

import json
from pathlib import Path

from relay.audit import AuditLog
from relay.recording.incident import Incident
from relay.recording.recorder import GapEvent


def test_a_gap_is_saved_with_its_times_and_without_credentials(tmp_path: Path) -> None:
    manifest = {"id": "20261130T070000Z-abcdef", "recordings": {"cam": {"segments": []}}}
    incident = Incident(tmp_path, manifest, AuditLog(tmp_path / "audit.jsonl"))
    reason = "cannot open rtsp://pilot:hunter2-secret@10.0.0.7:8554/live: refused"
    start = 1_796_000_000_000_000_000
    incident.on_gap(GapEvent("cam", start, start + 2_500_000_000, reason))
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["recordings"]["cam"]["gaps"] == [
        {
            "start": "2026-11-30T00:53:20.000Z",
            "end": "2026-11-30T00:53:22.500Z",
            "seconds": 2.5,
            "reason": "cannot open rtsp://10.0.0.7:8554/live: refused",
        }
    ]
    assert "hunter2" not in (tmp_path / "manifest.json").read_text()
