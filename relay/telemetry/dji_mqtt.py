"""DJI Cloud API OSD over MQTT: `mqtt://[user:password@]broker:1883/thing/product/{sn}/osd`.

DJI Pilot 2 and DJI Dock publish the aircraft's state on that topic about every 2 s, as
`{"tid", "bid", "timestamp" (ms), "data": {...}}`. In `data`: `latitude`, `longitude`,
`height` (above the WGS84 ellipsoid), `elevation` (above the take-off point),
`attitude_head` (-180..180), `horizontal_speed`, `battery.capacity_percent`; each payload
(camera and gimbal) as its own object keyed by its index "type-subtype-gimbalindex" (e.g.
"81-0-0") with `gimbal_pitch`, `gimbal_yaw` (earth frame, like the heading),
`zoom_factor` and, on thermal payloads, `thermal_global_temperature_max`; the `cameras`
list carries `ir_metering_point.temperature`, valid while `ir_metering_mode` is 1 (spot).

Choices, each to avoid showing a commander a wrong number:
- `height` is not put into `alt_msl_m`: the ellipsoid is up to ~50 m away from mean sea
  level (about 47 m over Germany). `elevation` becomes `alt_rel_m`.
- latitude = longitude = 0 is DJI's "no position fix": both absent.
- `gimbal_yaw` is turned into the model's yaw relative to the aircraft's heading.
- the spot temperature only while spot metering is on (it reads 0 otherwise).

Interpolating the 0.5 Hz positions is the hub's job. The broker going away is counted as
bad input ("dji mqtt broker lost"), logged at most once a minute, and reconnected with
backoff (0.5 s doubling to 10 s); the source never ends on its own.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import msgspec

from relay.telemetry.model import Telemetry
from relay.telemetry.sink import Sink

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
LOG_EVERY_S = 60.0  # a broker that flaps logs once a minute, not once a retry
PAYLOAD_KEY = re.compile(r"^\d+-\d+-\d+$")
TOPIC = re.compile(r"^thing/product/[^/+#]+/osd$")


class OsdError(ValueError):
    """A message that is not a DJI OSD; str() is the counted cause."""


def _number(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _payload(data: dict[str, Any]) -> dict[str, Any]:
    """The main gimbal's payload object: the lowest index that reports a gimbal."""
    for key in sorted(k for k in data if PAYLOAD_KEY.match(k)):
        entry = data[key]
        if isinstance(entry, dict) and "gimbal_pitch" in entry:
            return entry
    return {}


def _spot_temperature(data: dict[str, Any]) -> float | None:
    cameras = data.get("cameras")
    for camera in cameras if isinstance(cameras, list) else []:
        point = camera.get("ir_metering_point") if isinstance(camera, dict) else None
        if isinstance(point, dict) and camera.get("ir_metering_mode") == 1:
            return _number(point, "temperature")
    return None


def parse_osd(body: bytes, received: float) -> Telemetry:
    """One OSD message as a normalised sample. Raises OsdError with the cause."""
    try:
        message = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise OsdError("dji osd not JSON") from None
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        raise OsdError("dji osd without data object")
    stamp = _number(message, "timestamp")
    raw: dict[str, Any] = {"time": stamp / 1000.0 if stamp else received, "source": "dji"}
    lat, lon = _number(data, "latitude"), _number(data, "longitude")
    if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
        raw["lat"], raw["lon"] = lat, lon
    pairs = (("alt_rel_m", data, "elevation"), ("ground_speed_mps", data, "horizontal_speed"))
    battery = data.get("battery")
    payload = _payload(data)
    more = (
        ("battery_pct", battery if isinstance(battery, dict) else {}, "capacity_percent"),
        ("gimbal_pitch_deg", payload, "gimbal_pitch"),
        ("temp_max_c", payload, "thermal_global_temperature_max"),
    )
    for out, obj, key in (*pairs, *more):
        value = _number(obj, key)
        if value is not None:
            raw[out] = value
    head = _number(data, "attitude_head")
    if head is not None:
        raw["heading_deg"] = head % 360.0
        yaw = _number(payload, "gimbal_yaw")
        if yaw is not None:  # earth frame -> relative to the nose, -180..180
            raw["gimbal_yaw_deg"] = (yaw - head + 180.0) % 360.0 - 180.0
    spot = _spot_temperature(data)
    if spot is not None:
        raw["temp_spot_c"] = spot
    try:
        return msgspec.convert(raw, Telemetry)
    except msgspec.ValidationError:
        raise OsdError("dji osd value out of range") from None


class DjiMqttSource:
    """Subscribes to one aircraft's OSD topic and publishes its samples to a Sink."""

    def __init__(
        self, url: str, backoff_min_s: float = BACKOFF_MIN_S, backoff_max_s: float = BACKOFF_MAX_S
    ) -> None:
        parts = urlsplit(url)
        topic = parts.path.lstrip("/")
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError("needs mqtt://broker:1883/thing/product/{sn}/osd")
        if not TOPIC.match(topic):
            raise ValueError("topic must be thing/product/{sn}/osd")
        self.host = parts.hostname
        self.port = parts.port or 1883
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.topic = topic
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.connects = 0
        self.losses = 0  # connection attempts failed or connections lost
        self._logged_at = -LOG_EVERY_S

    async def run(self, sink: Sink) -> None:
        """Until cancelled: subscribe, hand on every message, reconnect with backoff."""
        backoff = self.backoff_min_s
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self.password,
                    timeout=5.0,
                    keepalive=10,  # a dead broker is noticed within ~15 s, not 90
                ) as client:
                    await client.subscribe(self.topic, qos=0)
                    self.connects += 1
                    log.info("[dji %s] subscribed at %s:%d", self.topic, self.host, self.port)
                    backoff = self.backoff_min_s
                    async for message in client.messages:
                        payload = message.payload
                        if isinstance(payload, str):
                            payload = payload.encode()
                        self._handle(
                            payload if isinstance(payload, bytes | bytearray) else b"", sink
                        )
            except aiomqtt.MqttError as exc:
                self.losses += 1
                sink.bad("dji mqtt broker lost")
                now = time.monotonic()
                if now - self._logged_at >= LOG_EVERY_S:
                    self._logged_at = now
                    log.warning(
                        "[dji %s] broker %s:%d: %s (%d losses; retrying, logged once a minute)",
                        self.topic,
                        self.host,
                        self.port,
                        exc,
                        self.losses,
                    )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    def _handle(self, body: bytes | bytearray, sink: Sink) -> None:
        try:
            sample = parse_osd(bytes(body), time.time())
        except OsdError as exc:
            sink.bad(str(exc))
            return
        sink.publish(sample)
