"""Clip exports and snapshots run in the export worker process (their own GIL), its queue is
bounded (503 with a JSON reason when full), and a worker that dies is replaced."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from relay.recording import exports
from relay.recording.errors import IncidentError
from relay.recording.export_worker import ExportWorker
from tests.conftest import RelayFactory, wait_for
from tests.recording.api import SIM, call, decode_counters, sections


def test_jobs_run_in_another_process_and_a_full_queue_is_refused() -> None:
    worker = ExportWorker(max_jobs=1)
    try:
        assert worker.run(os.getpid) != os.getpid()
        slow = threading.Thread(target=worker.run, args=(time.sleep, 1.5))
        slow.start()
        wait_for_jobs = time.monotonic() + 5
        while worker.jobs == 0 and time.monotonic() < wait_for_jobs:
            time.sleep(0.01)
        with pytest.raises(IncidentError) as refused:
            worker.run(os.getpid)
        assert (refused.value.status, refused.value.code) == (503, "exports_busy")
        slow.join()
        assert worker.refused == 1 and worker.jobs == 0
        assert worker.run(os.getpid) != os.getpid()  # room again
    finally:
        worker.close()


def test_a_worker_that_dies_is_replaced() -> None:
    worker = ExportWorker()
    try:
        first = worker.run(os.getpid)
        with pytest.raises(IncidentError) as died:
            worker.run(os._exit, 3)
        assert (died.value.status, died.value.code) == (503, "export_worker_died")
        second = worker.run(os.getpid)
        assert second not in (first, os.getpid())
    finally:
        worker.close()


async def test_clip_and_snapshot_are_made_in_the_worker_process(
    start_relay: RelayFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    real_run = exports.WORKER.run

    def spy(fn: Any, *args: Any) -> Any:
        ran.append(fn.__name__)
        return real_run(fn, *args)

    monkeypatch.setattr(exports.WORKER, "run", spy)
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    _, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "W", "streams": ["demo"]}
    )
    path = f"/api/incidents/{body['id']}"
    recorder = relay.relay.incidents.get(body["id"]).recorders["demo"]
    await wait_for(lambda: recorder.written >= 90, 30, "3 s recorded")
    status, snap = await call(relay.base_url, "POST", path + "/snapshots", {"stream": "demo"})
    assert status == 201, snap
    await call(relay.base_url, "POST", path + "/stop")
    status, clip = await call(
        relay.base_url, "POST", path + "/clips", {"stream": "demo", "from_s": 0, "to_s": 2}
    )
    assert status == 201, clip
    assert ran == ["snapshot_jpeg", "export_and_hash"]
    counters = decode_counters(tmp_path / "rec" / body["id"] / clip["file"])
    assert len(counters) == clip["frames"] >= 60

    # A full queue: 503 with a JSON reason, no clip file or manifest entry left behind.
    monkeypatch.setattr(exports.WORKER, "max_jobs", 0)
    status, busy = await call(
        relay.base_url, "POST", path + "/clips", {"stream": "demo", "from_s": 0, "to_s": 2}
    )
    assert status == 503 and busy["error"] == "exports_busy", busy
    assert sorted(p.name for p in (tmp_path / "rec" / body["id"] / "_clips").iterdir()) == [
        Path(clip["file"]).name
    ]
    _, detail = await call(relay.base_url, "GET", path)
    assert [c["file"] for c in detail["clips"]] == [clip["file"]]
