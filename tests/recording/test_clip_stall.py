"""A clip export does not stall the recorders of the same incident: no recorded frame lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from relay.audit import AuditLog
from relay.media.access_unit import AccessUnit
from relay.recording import exports, recorder
from relay.recording.incident import Incident
from relay.recording.manifest import iso
from relay.recording.recorder import StreamRecorder
from tests.media_gen import access_units, make_clip

FPS = 30
GOP_S = 1.0


def _manifest(incident_id: str, streams: list[str]) -> dict[str, Any]:
    return {
        "version": 1,
        "id": incident_id,
        "title": "t",
        "streams": streams,
        "created": iso(),
        "status": "recording",
        "clips": [],
        "snapshots": [],
        "recordings": {
            s: {"state": "recording", "error": "", "segments": [], "source": ""} for s in streams
        },
    }


def test_a_60_s_clip_export_while_recording_loses_no_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    units = access_units(
        make_clip(tmp_path / "in.mp4", seconds=10, size=(320, 180), high_bframes=False)
    )
    assert len(units) == 300 and units[0].keyframe
    incident_id = "20260101T000000Z-abcdef"
    folder = tmp_path / incident_id
    folder.mkdir()
    incident = Incident(folder, _manifest(incident_id, ["a", "b"]), AuditLog(tmp_path / "a.jsonl"))
    incident.save()

    # Stream a: 70 s recorded at high speed, with arrival times 1/30 s apart, as if live.
    rec_a = StreamRecorder(incident_id, "a", folder / "a", incident.on_segment, incident.on_fail)
    rec_a.start()
    origin = time.monotonic_ns() - 80 * 10**9
    for n in range(7 * len(units)):
        unit = units[n % len(units)]
        while rec_a.received - rec_a.written > recorder.QUEUE_UNITS // 2:
            time.sleep(0.005)  # as fast as the recorder writes, never dropping
        pts = unit.pts + (n // len(units)) * 10 * 90_000
        rec_a.feed(AccessUnit(unit.data, pts, unit.keyframe, origin + n * 10**9 // FPS))
    rec_a.stop()
    assert rec_a.dropped == 0 and rec_a.written == 7 * len(units)

    # Stream b: live at 30 fps into a recorder with one second of queue that opens a new
    # segment at every keyframe, so it needs the incident (its manifest) during the export.
    monkeypatch.setattr(recorder, "QUEUE_UNITS", FPS)
    rec_b = StreamRecorder(
        incident_id, "b", folder / "b", incident.on_segment, incident.on_fail, segment_s=0.5
    )
    rec_b.start()
    stop = threading.Event()
    fed = [0]

    def live() -> None:
        started = time.monotonic()
        while not stop.is_set() or fed[0] % len(units) % FPS:  # end at a GOP's end
            unit = units[fed[0] % len(units)]
            time.sleep(max(0.0, started + fed[0] / FPS - time.monotonic()))
            rec_b.feed(
                AccessUnit(unit.data, unit.pts + fed[0] // len(units) * 900_000, unit.keyframe)
            )
            fed[0] += 1

    # The export itself (in the export worker process) takes well under a second here; a
    # long clip on a slow disk, or one waiting behind other exports, takes seconds: the
    # wait before it stands for that.
    real_run = exports.WORKER.run

    def slow_run(*args: Any) -> Any:
        time.sleep(2.5)
        return real_run(*args)

    monkeypatch.setattr(exports.WORKER, "run", slow_run)
    feeder = threading.Thread(target=live)
    feeder.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    clip = exports.save_clip(incident, "a", 5.0, 65.0)
    export_s = time.monotonic() - t0
    time.sleep(1.0)
    stop.set()
    feeder.join()
    rec_b.stop()

    assert abs(clip["duration_s"] - 60.0) <= 1.0 and clip["frames"] >= 60 * FPS, clip
    assert export_s >= 2.5
    assert rec_b.dropped == 0, f"{rec_b.dropped} frames lost while the clip was exported"
    assert rec_b.written == fed[0]
    segments = incident.manifest["recordings"]["b"]["segments"]
    assert sum(s["frames"] for s in segments) == fed[0]
    assert len(segments) >= 4  # segments opened and closed during the export
