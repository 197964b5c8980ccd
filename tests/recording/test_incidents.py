"""Incidents over the real API: record the sim drone, verify, clip, snapshot, expire."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av

from relay.config import parse_config
from relay.errors import ConfigError
from tests.conftest import RelayFactory, wait_for
from tests.recording.api import SIM, call, decode_counters, duration_of, sections, verify_cli


async def test_record_10s_plays_verifies_and_detects_tampering(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    status, body = await call(
        relay.base_url,
        "POST",
        "/api/incidents",
        {"title": "Brand Lagerhalle", "streams": ["demo"], "note": "Übung"},
    )
    assert status == 201, body
    incident_id = body["id"]
    incident = relay.relay.incidents.get(incident_id)
    recorder = incident.recorders["demo"]
    await wait_for(lambda: recorder.written >= 300, 30, "10 s recorded")
    status, snap = await call(
        relay.base_url, "POST", f"/api/incidents/{incident_id}/snapshots", {"stream": "demo"}
    )
    assert status == 201, snap
    status, stopped = await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")
    assert status == 200 and stopped["status"] == "stopped"
    status, detail = await call(relay.base_url, "GET", f"/api/incidents/{incident_id}")
    assert status == 200
    segments = detail["recordings"][0]["segments"]
    assert len(segments) >= 1 and not any(s["open"] or s["recovered"] for s in segments)
    total = sum(s["duration_s"] for s in segments)
    counters: list[int] = []
    for seg in segments:
        status, data = await call(relay.base_url, "GET", seg["url"])
        assert status == 200 and len(data) == seg["bytes"]
        assert hashlib.sha256(data).hexdigest() == seg["sha256"]
        assert seg["start"].endswith("Z") and seg["source"].startswith("sim://")
        counters += decode_counters(tmp_path / "rec" / incident_id / seg["file"])
    # Every frame the recorder received plays, in order, with nothing lost between segments.
    assert (
        len(counters) == recorder.received == recorder.written == sum(s["frames"] for s in segments)
    )
    assert counters == list(range(counters[0], counters[0] + len(counters)))
    assert recorder.dropped == 0
    assert abs(total - len(counters) / 30) < 0.05 and 9.0 <= total <= 11.0, total
    print(f"recorded {len(segments)} segments, {total:.3f} s, {len(counters)} frames")
    # The snapshot is the drone's full-resolution picture.
    assert (snap["width"], snap["height"]) == (640, 360)
    status, jpeg = await call(relay.base_url, "GET", snap["url"])
    assert status == 200 and jpeg[:2] == b"\xff\xd8"
    # The audit trail holds start, the manifest's hash at stop, and the snapshot.
    events = {e["event"]: e for e in detail["audit"]}
    assert {"incident_start", "incident_stop", "snapshot", "segment_closed"} <= set(events)
    folder = tmp_path / "rec" / incident_id
    assert (
        events["incident_stop"]["manifest_sha256"]
        == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    )
    result = verify_cli(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    # One flipped byte in a segment: verify names the file and fails.
    victim = folder / segments[-1]["file"]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    result = verify_cli(folder)
    assert result.returncode == 1 and segments[-1]["file"] in result.stdout, result.stdout


async def test_clip_of_seconds_3_to_7(start_relay: RelayFactory, tmp_path: Path) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    _, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "Clip", "streams": ["demo"]}
    )
    recorder = relay.relay.incidents.get(body["id"]).recorders["demo"]
    await wait_for(lambda: recorder.written >= 270, 30, "9 s recorded")
    await call(relay.base_url, "POST", f"/api/incidents/{body['id']}/stop")
    status, clip = await call(
        relay.base_url,
        "POST",
        f"/api/incidents/{body['id']}/clips",
        {"stream": "demo", "from_s": 3, "to_s": 7},
    )
    assert status == 201, clip
    assert clip["cut"] == "keyframes" and clip["from_s"] <= 3 <= 7 <= clip["to_s"]
    path = tmp_path / "rec" / body["id"] / clip["file"]
    duration = duration_of(path)
    counters = decode_counters(path)
    print(
        f"clip 3-7 s: cut {clip['from_s']}..{clip['to_s']} s, plays {duration:.3f} s, "
        f"{len(counters)} frames"
    )
    assert abs(duration - 4.0) <= 1.0 + 1 / 30, duration  # ± one GOP (1 s)
    assert counters == list(range(counters[0], counters[0] + len(counters)))
    assert abs(duration - clip["duration_s"]) < 0.1
    with av.open(str(path)) as container:  # one plain MP4 with the original stream
        assert container.streams.video[0].codec_context.name == "h264"
    assert verify_cli(tmp_path / "rec" / body["id"]).returncode == 0


async def test_retention_deletes_expired_and_keeps_held(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    # 2e-5 days = 1.7 s after the stop; the sweep runs every 0.2 s.
    relay = await start_relay(
        [SIM], **sections(tmp_path, retention_days=2e-5, sweep_interval_s=0.2)
    )
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    ids = []
    for title in ("expires", "held"):
        _, body = await call(
            relay.base_url, "POST", "/api/incidents", {"title": title, "streams": ["demo"]}
        )
        ids.append(body["id"])
    status, held = await call(
        relay.base_url, "POST", f"/api/incidents/{ids[1]}/hold", {"hold": True}
    )
    assert status == 200 and held["hold"] is True
    for incident_id in ids:
        recorder = relay.relay.incidents.get(incident_id).recorders["demo"]
        await wait_for(lambda r=recorder: r.written >= 30, 20, "a second recorded")
        await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")
    expired, kept = (tmp_path / "rec" / i for i in ids)
    # The sweep removes the folder in a thread and writes the audit entry once the thread is
    # back on the loop: wait for the entry, which comes last.
    await wait_for(
        lambda: any(e["event"] == "incident_deleted" for e in relay.relay.audit.read()),
        20,
        "the expired incident's deletion in the audit trail",
    )
    assert not expired.exists()
    status, _ = await call(relay.base_url, "GET", f"/api/incidents/{ids[0]}")
    assert status == 404
    # Well past its expiry, the held one is still there after more sweeps.
    assert await relay.relay.incidents.sweep(now=__import__("time").time() + 3600) == []
    assert kept.is_dir() and verify_cli(kept).returncode == 0
    audit = relay.relay.audit.read()
    deletions = [e for e in audit if e["event"] == "incident_deleted"]
    assert [e["incident"] for e in deletions] == [ids[0]]
    assert deletions[0]["who"] == "retention" and deletions[0]["manifest_sha256"]
    # Released from hold, it goes at the next sweep.
    await call(relay.base_url, "POST", f"/api/incidents/{ids[1]}/hold", {"hold": False})
    await wait_for(lambda: not kept.exists(), 20, "the released incident to be deleted")


def test_retention_config_is_validated() -> None:
    config = parse_config({}, "<test>")
    assert config.recording.retention_days == 60
    for bad in (-1, "60", True, 5000):
        try:
            parse_config({"recording": {"retention_days": bad}}, "<test>")
        except ConfigError as exc:
            assert exc.key == "recording.retention_days"
        else:
            raise AssertionError(f"retention_days = {bad!r} was accepted")
