"""DJI Cloud API OSD over MQTT: recorded-style messages parsed to the model, and the real
chain (Debian's mosquitto started here, a publisher process, DjiMqttSource) including the
broker killed and restarted mid-flight."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from relay.telemetry.dji_mqtt import DjiMqttSource, OsdError, parse_osd
from relay.telemetry.model import Telemetry
from tests.conftest import RelayFactory, free_port, wait_for
from tests.telemetry.dji_publish import body, osd
from tests.telemetry.viewer_sse import viewer_auth, viewer_event

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/bin")
SN = "1581F5BKD225D00A0001"
ROOT = Path(__file__).resolve().parents[2]


class Collect:
    """A Sink that keeps what it gets."""

    def __init__(self) -> None:
        self.samples: list[Telemetry] = []
        self.causes: list[str] = []

    def publish(self, sample: Telemetry) -> None:
        self.samples.append(sample)

    def bad(self, cause: str) -> None:
        self.causes.append(cause)


def test_osd_message_to_the_model() -> None:
    sample = parse_osd(body(0, SN), 0.0)
    stamp = osd(0, SN)["timestamp"] / 1000
    assert sample.time == pytest.approx(stamp, abs=1.0)
    assert sample.source == "dji"
    assert (sample.lat, sample.lon) == (pytest.approx(48.1), 11.5)
    assert sample.alt_rel_m == 85.5
    assert sample.alt_msl_m is None  # `height` is above the ellipsoid, not MSL
    assert sample.heading_deg == 270.0  # attitude_head -90
    assert sample.ground_speed_mps == 6.5
    assert sample.battery_pct == 77
    assert sample.gimbal_pitch_deg == -60.0
    assert sample.gimbal_yaw_deg == pytest.approx(-30.0)  # -120 earth, nose at -90
    assert sample.temp_max_c == 455.5
    assert sample.temp_spot_c == 312.4


def test_no_fix_and_metering_off_are_absent() -> None:
    message = osd(0, SN)
    message["data"].update(latitude=0, longitude=0)
    message["data"]["cameras"][0]["ir_metering_mode"] = 0
    del message["timestamp"]
    sample = parse_osd(json.dumps(message).encode(), 1_764_500_000.0)
    assert sample.lat is None and sample.lon is None
    assert sample.temp_spot_c is None
    assert sample.time == 1_764_500_000.0


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        (b"{not json", "dji osd not JSON"),
        (b"[1, 2]", "dji osd without data object"),
        (b'{"data": 5}', "dji osd without data object"),
        (body(4, SN), "dji osd value out of range"),
    ],
)
def test_bad_messages_are_causes(raw: bytes, cause: str) -> None:
    with pytest.raises(OsdError, match=cause):
        parse_osd(raw, 1_764_500_000.0)


@pytest.mark.parametrize(
    "url",
    ["mqtt://broker:1883/thing/product/sn/state", "http://b/thing/product/sn/osd", "mqtt:///x"],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        DjiMqttSource(url)


def _broker(port: int, folder: Path) -> subprocess.Popen[bytes]:
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    assert MOSQUITTO is not None
    return subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def _until(check: Callable[[], object], timeout: float, what: str) -> None:
    await wait_for(lambda: bool(check()), timeout, what)


@pytest.fixture
async def broker_port(tmp_path: Path) -> AsyncIterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto; scripts/test does it)")
    port = free_port()
    procs = [_broker(port, tmp_path)]
    for _ in range(100):
        if await _listening(port):
            break
        await asyncio.sleep(0.05)
    yield port, procs
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.asyncio
async def test_osd_over_mosquitto_survives_a_broker_restart(
    broker_port: tuple[int, list[subprocess.Popen[bytes]]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="relay.telemetry.dji_mqtt")
    port, brokers = broker_port
    sink = Collect()
    source = DjiMqttSource(f"mqtt://127.0.0.1:{port}/thing/product/{SN}/osd", 0.2, 1.0)
    task = asyncio.create_task(source.run(sink))
    publisher = None
    try:
        await _until(lambda: source.connects == 1, 10, "the source to subscribe")
        publisher = subprocess.Popen(
            [sys.executable, "-m", "tests.telemetry.dji_publish", str(port), SN, "200", "0.1"],
            cwd=ROOT,
        )
        await _until(lambda: len(sink.samples) >= 8, 15, "samples through the broker")
        assert sink.causes == ["dji osd not JSON", "dji osd value out of range"]
        assert all(s.alt_rel_m == 85.5 and s.temp_spot_c == 312.4 for s in sink.samples)

        brokers[0].kill()  # the broker goes away mid-flight
        brokers[0].wait()
        await _until(lambda: "dji mqtt broker lost" in sink.causes, 20, "the loss counted")
        before = len(sink.samples)
        last_lat = max(s.lat or 0.0 for s in sink.samples)
        await asyncio.sleep(1.0)  # a few reconnect attempts fail while it is away
        assert len(sink.samples) == before
        assert source.losses >= 2
        lost = [r for r in caplog.records if "broker 127.0.0.1" in r.getMessage()]
        assert len(lost) == 1  # logged once a minute, not once a retry

        brokers.append(_broker(port, tmp_path))  # back on the same port
        await _until(lambda: source.connects == 2, 15, "the source to reconnect")
        await _until(lambda: len(sink.samples) >= before + 5, 15, "samples after the restart")
        assert max(s.lat or 0.0 for s in sink.samples) > last_lat  # newer messages
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if publisher is not None:
            publisher.kill()
            publisher.wait()


async def test_a_stream_with_dji_telemetry_shows_it_at_the_api(
    broker_port: tuple[int, list[subprocess.Popen[bytes]]], start_relay: RelayFactory
) -> None:
    """telemetry = "mqtt://…/thing/product/{sn}/osd" on a stream: the relay subscribes, and
    GET /api/streams/{name} carries the aircraft's normalised position."""
    port, _ = broker_port
    relay = await start_relay(
        [
            {
                "name": "m30t",
                "source": "sim://?size=320x240&fps=10&gop=10",
                "renditions": ["360p"],
                "telemetry": f"mqtt://127.0.0.1:{port}/thing/product/{SN}/osd",
            }
        ],
        auth=viewer_auth("m30t"),
    )
    publisher = subprocess.Popen(
        [sys.executable, "-m", "tests.telemetry.dji_publish", str(port), SN, "200", "0.1"],
        cwd=ROOT,
    )
    try:
        seen: dict[str, Any] = {}

        async def arrived() -> bool:
            seen.update(await relay.stream_status("m30t"))
            return bool(seen.get("telemetry"))

        deadline = asyncio.get_running_loop().time() + 20
        while not await arrived():
            assert asyncio.get_running_loop().time() < deadline, seen.get("telemetry")
            await asyncio.sleep(0.2)
        telemetry = seen["telemetry"]
        assert telemetry["source"] == "dji" and telemetry["alt_rel_m"] == 85.5, telemetry
        assert 48.1 <= telemetry["lat"] < 48.2 and telemetry["lon"] == 11.5, telemetry
        # At a viewer (not an admin), in the event stream the player reads.
        seen = await viewer_event(relay, "m30t", lambda e: e.get("source") == "dji")
        assert seen["alt_rel_m"] == 85.5 and seen["lon"] == 11.5, seen
        assert 48.1 <= seen["lat"] < 48.2, seen
    finally:
        publisher.kill()
        publisher.wait()
