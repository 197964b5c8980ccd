"""Telemetry recorded as evidence: JSON lines beside the segments, hashed in the manifest,
checked by `drone-relay verify`, linked from the incident (after a crash: test_crash.py)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from relay.recording.telemetry_log import encode_line, recover
from relay.telemetry.model import Telemetry
from tests.conftest import RelayFactory, wait_for
from tests.recording.api import call, sections, verify_cli

PUSHED = "sim://?size=320x240&fps=10&gop=10"
SAMPLES = [
    {"lat": 48.1372341, "lon": 11.5755312, "alt_rel_m": 80.5, "heading_deg": 93.25},
    {"lat": 48.1373, "lon": 11.5756, "alt_rel_m": 81.0, "ground_speed_mps": 4.5},
    {"lat": 48.1374, "lon": 11.5757, "alt_rel_m": 81.5, "battery_pct": 77.0},
]


async def test_pushed_telemetry_is_recorded_hashed_verified_and_served(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    streams = [
        {"name": "p", "source": PUSHED, "renditions": ["360p"], "telemetry": "push"},
        {"name": "q", "source": PUSHED, "renditions": ["360p"]},
    ]
    relay = await start_relay(streams, **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["p"].state == "live", 20, "the sim drone")
    status, pushed = await call(relay.base_url, "POST", "/api/streams/p/telemetry", SAMPLES[0])
    assert status == 204, pushed  # before the incident: not in its record
    status, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "Suche", "streams": ["p", "q"]}
    )
    assert status == 201, body
    incident_id = body["id"]
    for sample in SAMPLES:
        status, _ = await call(relay.base_url, "POST", "/api/streams/p/telemetry", sample)
        assert status == 204
    status, live = await call(relay.base_url, "GET", f"/api/incidents/{incident_id}")
    assert live["recordings"][0]["telemetry"]["open"] is True
    status, stopped = await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")
    assert status == 200 and stopped["status"] == "stopped", stopped
    status, detail = await call(relay.base_url, "GET", f"/api/incidents/{incident_id}")
    by_stream = {r["stream"]: r for r in detail["recordings"]}
    assert "telemetry" not in by_stream["q"]  # a stream without telemetry has no file
    entry = by_stream["p"]["telemetry"]
    assert entry["open"] is False and entry["samples"] == 3 and entry["dropped"] == 0, entry
    # Served to those who may watch the stream, byte for byte what the manifest hashed.
    status, data = await call(relay.base_url, "GET", entry["url"])
    assert status == 200 and len(data) == entry["bytes"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert len(lines) == 3
    for line, sample in zip(lines, SAMPLES, strict=True):
        assert line["source"] == "push" and abs(line["recorded"] - time.time()) < 60
        assert {k: line[k] for k in sample} == sample
    folder = tmp_path / "rec" / incident_id
    result = verify_cli(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert entry["file"] in result.stdout
    # A position changed after the fact: verify names the file and fails.
    victim = folder / entry["file"]
    victim.write_bytes(data.replace(b"48.1373", b"48.1399"))
    result = verify_cli(folder)
    assert result.returncode == 1 and entry["file"] in result.stdout, result.stdout


def test_a_line_is_the_sample_and_when_it_arrived() -> None:
    sample = Telemetry(time=1_790_000_000.25, source="mavlink", lat=48.1, alt_rel_m=0.0)
    line = encode_line(sample, 1_790_000_000.5)
    assert line.endswith(b"\n")
    assert json.loads(line) == {
        "time": 1_790_000_000.25,
        "source": "mavlink",
        "lat": 48.1,
        "alt_rel_m": 0.0,  # a drone on the ground says 0: kept, not left out
        "recorded": 1_790_000_000.5,
    }


def test_recover_cuts_only_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.jsonl"
    whole = b'{"time":1.0,"source":"push"}\n{"time":2.0,"source":"push"}\n'
    path.write_bytes(whole + b'{"time":3.0,"sou')
    assert recover(path) == 2 and path.read_bytes() == whole
    assert recover(path) == 2 and path.read_bytes() == whole  # whole lines stay as they are
