"""A full disk or an unwritable folder stops the recording with a visible error; live
viewing goes on."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RelayFactory, wait_for
from tests.recording.api import SIM, call, sections


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1.5 MB tmpfs as the recordings folder (needs root, as in CI's container)."""
    mount = tmp_path / "rec"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_full_disk_stops_recording_not_live_viewing(
    start_relay: RelayFactory, tmp_path: Path, small_disk: Path
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 20, "the sim drone")
    status, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "Voll", "streams": ["demo"]}
    )
    assert status == 201
    incident = relay.relay.incidents.get(body["id"])
    await wait_for(
        lambda: incident.recorders["demo"].state == "failed",
        30,
        "the recording to fail on the full disk",
    )
    _, detail = await call(relay.base_url, "GET", f"/api/incidents/{body['id']}")
    rec = detail["recordings"][0]
    assert rec["state"] == "failed" and "No space left" in rec["error"], rec
    assert any(
        e["event"] == "recording_failed" and e.get("incident") == body["id"]
        for e in relay.relay.audit.read()
    )
    # Live goes on: the stream stays live and keeps taking the drone's pictures in (nobody
    # watches, so no rung decodes them: lazy rungs).
    units = stream.rate_in.total_events
    await wait_for(
        lambda: stream.rate_in.total_events > units + 30, 10, "live frames after the failure"
    )
    assert (await relay.stream_status("demo"))["state"] == "live"
    status, stopped = await call(relay.base_url, "POST", f"/api/incidents/{body['id']}/stop")
    assert status == 200 and stopped["status"] == "failed"
    # What reached the disk before it filled up is kept: cut to whole fragments, hashed.
    _, detail = await call(relay.base_url, "GET", f"/api/incidents/{body['id']}")
    rec = detail["recordings"][0]
    assert rec["duration_s"] > 1.0 and all(s["sha256"] for s in rec["segments"]), rec
    print(
        f"full disk: {rec['error']}; kept {rec['duration_s']} s, error shown: {detail['error']!r}"
    )


@pytest.fixture
def read_only_disk(small_disk: Path) -> Path:
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_disk)]).returncode == 0
    return small_disk


async def test_unwritable_folder_refuses_with_reason(
    start_relay: RelayFactory, tmp_path: Path, read_only_disk: Path
) -> None:
    small_disk = read_only_disk
    relay = await start_relay([SIM], **sections(tmp_path))
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 20, "the sim drone")
    status, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "RO", "streams": ["demo"]}
    )
    assert status == 507 and body["error"] == "recording_unwritable"
    assert "Read-only file system" in body["reason"] and str(small_disk) in body["reason"]
    assert any(e["event"] == "recording_failed" for e in relay.relay.audit.read())
    assert (await relay.stream_status("demo"))["state"] == "live"
