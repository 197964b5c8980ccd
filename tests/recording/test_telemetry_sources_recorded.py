"""Each telemetry source's samples reach an incident's record: MAVLink from pymavlink, DJI
Cloud API OSD through mosquitto, MISB ST 0601 KLV in the fake drone's MPEG-TS (HTTP push:
test_telemetry_record.py). The normalised values in the file are the ones the sender sent."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relay.recording.telemetry_log import TelemetryLog
from scripts.klv_make import circle
from tests.conftest import RelayFactory, RunningRelay, free_port, wait_for
from tests.recording.api import call, sections, verify_cli
from tests.telemetry.test_dji_mqtt import ROOT, SN, broker_port  # noqa: F401 (a fixture)
from tests.telemetry.test_klv_ts import _push_with_fake_drone
from tests.telemetry.test_mavlink import mav_port, send_state, sender  # noqa: F401 (fixtures)

SMALL = "sim://?size=320x240&fps=10&gop=10"


async def record(relay: RunningRelay, stream: str, samples: int, feed: Any) -> list[Any]:
    """Records `stream` until its telemetry file holds `samples`, stops, verifies; returns
    the file's lines. `feed()` is called while waiting (a sender that sends on demand)."""
    await wait_for(lambda: relay.relay.streams[stream].state == "live", 20, "the picture")
    status, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "Übung", "streams": [stream]}
    )
    assert status == 201, body
    tlog: TelemetryLog = relay.relay.incidents.get(body["id"]).telemetry_logs[stream]
    deadline = asyncio.get_running_loop().time() + 20
    while tlog.samples < samples:
        assert asyncio.get_running_loop().time() < deadline, f"{tlog.samples} samples recorded"
        feed()
        await asyncio.sleep(0.2)
    status, _ = await call(relay.base_url, "POST", f"/api/incidents/{body['id']}/stop")
    assert status == 200
    _, detail = await call(relay.base_url, "GET", f"/api/incidents/{body['id']}")
    entry = detail["recordings"][0]["telemetry"]
    assert entry["samples"] >= samples and entry["sha256"], entry
    folder = relay.relay.incidents.get(body["id"]).folder
    result = verify_cli(folder)
    assert result.returncode == 0 and entry["file"] in result.stdout, result.stdout
    return [json.loads(line) for line in (folder / entry["file"]).read_text().splitlines()]


async def test_mavlink_is_recorded(
    start_relay: RelayFactory,
    tmp_path: Path,
    mav_port: int,  # noqa: F811
    sender: Any,  # noqa: F811
) -> None:
    stream = {
        "name": "d",
        "source": SMALL,
        "renditions": ["360p"],
        "telemetry": f"mavlink://127.0.0.1:{mav_port}",
    }
    relay = await start_relay([stream], **sections(tmp_path))
    lines = await record(relay, "d", 10, lambda: send_state(sender))
    full = [x for x in lines if "battery_pct" in x and "hfov_deg" in x]
    assert full, lines[-1]
    last = full[-1]
    assert last["source"] == "mavlink"
    assert last["lat"] == pytest.approx(48.137234, abs=1e-7)
    assert last["alt_rel_m"] == pytest.approx(120.25)
    assert last["heading_deg"] == pytest.approx(270.5)
    assert last["gimbal_pitch_deg"] == pytest.approx(-30.0, abs=0.01)
    assert last["hfov_deg"] == pytest.approx(62.5) and last["battery_pct"] == 76


async def test_dji_osd_is_recorded(
    start_relay: RelayFactory,
    tmp_path: Path,
    broker_port: tuple[int, list[subprocess.Popen[bytes]]],  # noqa: F811
) -> None:
    port, _ = broker_port
    stream = {
        "name": "m30t",
        "source": SMALL,
        "renditions": ["360p"],
        "telemetry": f"mqtt://127.0.0.1:{port}/thing/product/{SN}/osd",
    }
    relay = await start_relay([stream], **sections(tmp_path))
    publisher = subprocess.Popen(
        [sys.executable, "-m", "tests.telemetry.dji_publish", str(port), SN, "300", "0.1"],
        cwd=ROOT,
    )
    try:
        lines = await record(relay, "m30t", 5, lambda: None)
    finally:
        publisher.kill()
        publisher.wait()
    for line in lines:
        assert line["source"] == "dji" and line["alt_rel_m"] == 85.5, line
        assert 48.1 <= line["lat"] < 48.2 and line["lon"] == 11.5, line


async def test_klv_is_recorded(start_relay: RelayFactory, tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    url = f"udp://127.0.0.1:{port}"
    stream = {"name": "uas", "source": url, "renditions": ["360p"], "telemetry": "klv"}
    relay = await start_relay([stream], **sections(tmp_path))
    pusher = asyncio.ensure_future(asyncio.to_thread(_push_with_fake_drone, url, 12.0))
    try:
        lines = await record(relay, "uas", 10, lambda: None)
    finally:
        await pusher
    # The fake drone flies the test kit's circle: every recorded position lies on it.
    lats = [float(circle(t / 10)[13] or 0) for t in range(600)]  # tag 13: latitude
    for line in lines:
        assert line["source"] == "klv" and line["heading_deg"] is not None, line
        assert min(lats) - 1e-5 <= line["lat"] <= max(lats) + 1e-5, line
        assert line["alt_msl_m"] == pytest.approx(120.0, abs=0.5), line  # tag 15
