"""MAVLink over UDP (`mavlink://0.0.0.0:14550`): what a PX4/ArduPilot autopilot or a ground
station forwards, parsed by pymavlink and merged into one sample.

Each message carries a few fields (GLOBAL_POSITION_INT the position, SYS_STATUS the
battery ...); the sample is the latest of each field, absent until some message said it.
The MAVLink 2 dialect is imported directly (not `mavutil.mavlink`, which is MAVLink 1 unless
the environment says otherwise): GIMBAL_DEVICE_ATTITUDE_STATUS and CAMERA_FOV_STATUS have
ids above 255 and exist only in MAVLink 2; its parser reads MAVLink 1 frames too.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any
from urllib.parse import urlsplit

import msgspec
from pymavlink.dialects.v20 import common as mavlink2

from relay.telemetry.hub import TelemetryHub
from relay.telemetry.model import Telemetry

log = logging.getLogger(__name__)

HDG_UNKNOWN = 65535  # GLOBAL_POSITION_INT.hdg when the autopilot has no heading
# GIMBAL_DEVICE_FLAGS: whether the quaternion's yaw is relative to north or to the vehicle
YAW_LOCK, YAW_IN_VEHICLE_FRAME, YAW_IN_EARTH_FRAME = 16, 32, 64
READ = frozenset(
    {
        "GLOBAL_POSITION_INT",
        "ATTITUDE",
        "GIMBAL_DEVICE_ATTITUDE_STATUS",
        "CAMERA_FOV_STATUS",
        "SYS_STATUS",
    }
)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _wrap180(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def quaternion_pitch_yaw(q: list[float]) -> tuple[float, float]:
    """(pitch, yaw) in degrees of a w, x, y, z quaternion (aerospace ZYX order)."""
    w, x, y, z = q
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x)))))
    yaw = math.degrees(math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))
    return pitch, yaw


def fields_of(msg: Any, known: dict[str, Any]) -> dict[str, Any]:
    """The normalised fields one message says (units converted, unknowns left out); `known`
    is what earlier messages said (a gimbal's earth-frame yaw needs the heading)."""
    kind = msg.get_type()
    out: dict[str, Any] = {}
    if kind == "GLOBAL_POSITION_INT":
        out["lat"], out["lon"] = msg.lat / 1e7, msg.lon / 1e7
        out["alt_msl_m"], out["alt_rel_m"] = msg.alt / 1000, msg.relative_alt / 1000
        out["ground_speed_mps"] = round(math.hypot(msg.vx, msg.vy) / 100, 2)  # cm/s
        if msg.hdg != HDG_UNKNOWN:
            out["heading_deg"] = (msg.hdg / 100) % 360.0
            out["_hdg"] = True
    elif kind == "ATTITUDE":
        # The vehicle's yaw: the heading only while GLOBAL_POSITION_INT gives none.
        if not known.get("_hdg") and _finite(msg.yaw):
            out["heading_deg"] = math.degrees(msg.yaw) % 360.0
    elif kind == "GIMBAL_DEVICE_ATTITUDE_STATUS":
        if _finite(*msg.q):
            pitch, yaw = quaternion_pitch_yaw(list(msg.q))
            out["gimbal_pitch_deg"] = round(pitch, 2)
            earth = msg.flags & YAW_IN_EARTH_FRAME or (
                msg.flags & YAW_LOCK and not msg.flags & YAW_IN_VEHICLE_FRAME
            )
            # The model's gimbal yaw is relative to the aircraft: north-referenced yaw needs
            # the heading, and without it is left out rather than shown wrong.
            if not earth:
                out["gimbal_yaw_deg"] = round(_wrap180(yaw), 2)
            elif "heading_deg" in known:
                out["gimbal_yaw_deg"] = round(_wrap180(yaw - known["heading_deg"]), 2)
    elif kind == "CAMERA_FOV_STATUS":
        if _finite(msg.hfov) and msg.hfov > 0:
            out["hfov_deg"] = msg.hfov
    elif kind == "SYS_STATUS":
        if msg.battery_remaining >= 0:  # -1: the autopilot does not know
            out["battery_pct"] = float(msg.battery_remaining)
    return out


class MavlinkSource:
    """Listens on a UDP address; every datagram is parsed on its own (a fresh parser: no
    half frame of one datagram can spoil the next)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.fields: dict[str, Any] = {}
        self.bound: tuple[str, int] | None = None  # the address actually bound (tests)

    async def run(self, hub: TelemetryHub) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self, hub), local_addr=(self.host, self.port)
        )
        self.bound = transport.get_extra_info("sockname")[:2]
        log.info("[stream %s] telemetry: MAVLink on udp %s:%d", hub.stream, *self.bound)
        try:
            await asyncio.Event().wait()  # until cancelled with the stream
        finally:
            transport.close()

    def datagram(self, data: bytes, hub: TelemetryHub) -> None:
        parser = mavlink2.MAVLink(None)
        parser.robust_parsing = True  # bad frames come back as MAVLink_bad_data, no raise
        try:
            messages = parser.parse_buffer(data) or []
        except Exception as exc:  # pymavlink may still raise on odd input: never stop
            hub.bad("mavlink_corrupt", repr(exc))
            return
        if parser.buf_len() > 0 or any(m.get_type() == "BAD_DATA" for m in messages):
            hub.bad("mavlink_corrupt", f"{len(data)} bytes that are no whole MAVLink frames")
        # A message we read arrived: the drone is alive and the sample fresh, even when the
        # message left every field as it was (a battery of -1: unknown).
        said = False
        for msg in messages:
            if msg.get_type() in READ:
                self.fields.update(fields_of(msg, self.fields))
                said = True
        if said:
            self._publish(hub)

    def _publish(self, hub: TelemetryHub) -> None:
        while True:
            shown = {k: v for k, v in self.fields.items() if not k.startswith("_")}
            try:
                sample = msgspec.convert(
                    {**shown, "time": hub.clock(), "source": "mavlink"}, Telemetry
                )
            except msgspec.ValidationError as exc:
                # A value outside the model's ranges (a well-framed message with nonsense in
                # it): that field is forgotten, the rest is published.
                hub.bad("mavlink_out_of_range", str(exc))
                field = str(exc).rsplit("$.", 1)[-1].rstrip("`")
                if self.fields.pop(field, None) is None:
                    return  # not a field of ours: nothing left to publish
                continue
            hub.publish(sample)
            return


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, source: MavlinkSource, hub: TelemetryHub) -> None:
        self.source, self.hub = source, hub

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.source.datagram(data, self.hub)

    def error_received(self, exc: Exception) -> None:
        log.debug("[stream %s] telemetry: udp error %s", self.hub.stream, exc)


def from_url(url: str) -> MavlinkSource:
    parts = urlsplit(url)
    return MavlinkSource(parts.hostname or "0.0.0.0", parts.port or 14550)
