"""The fake drone's MAVLink (scripts/fake_drone.py --mavlink udp://HOST:PORT): its flight
(scripts/flight_path.py) as an autopilot and gimbal send it, MAVLink 2 over UDP at 10 Hz:
GLOBAL_POSITION_INT, ATTITUDE, GIMBAL_DEVICE_ATTITUDE_STATUS, CAMERA_FOV_STATUS, SYS_STATUS.
Each message goes in its own datagram, as PX4 and ArduPilot send them."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from urllib.parse import urlsplit

from flight_path import Pose, circle
from pymavlink.dialects.v20 import common as mavlink2

log = logging.getLogger("fake_drone")

RATE_HZ = 10.0


def parse_udp(url: str) -> tuple[str, int]:
    """(host, port) of udp://HOST:PORT; ValueError with the reason otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "udp" or not parts.hostname:
        raise ValueError(f"{url!r} is not udp://HOST:PORT")
    if not parts.port:
        raise ValueError(f"{url!r} names no port")
    return parts.hostname, parts.port


def gimbal_quaternion(pitch_deg: float, yaw_deg: float) -> list[float]:
    """w, x, y, z of a gimbal turned by yaw, then tilted by pitch (no roll)."""
    p, y = math.radians(pitch_deg) / 2, math.radians(yaw_deg) / 2
    return [
        math.cos(p) * math.cos(y),
        -math.sin(p) * math.sin(y),
        math.sin(p) * math.cos(y),
        math.cos(p) * math.sin(y),
    ]


class _Datagrams:
    """A file for pymavlink's MAVLink(): every write is one datagram to the relay."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.address)
        except OSError as exc:  # nobody listening yet (ICMP refused): the next one may land
            log.debug("mavlink: %s", exc)


class MavlinkOut:
    def __init__(self, url: str) -> None:
        self.out = _Datagrams(parse_udp(url))
        self.mav = mavlink2.MAVLink(self.out, srcSystem=1, srcComponent=1)
        self.start_s = time.monotonic()
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, pose: Pose, boot_ms: int) -> None:
        """One round of the five messages for `pose`."""
        m, hdg = self.mav, math.radians(pose.heading_deg)
        v = pose.ground_speed_mps * 100  # cm/s
        m.global_position_int_send(
            boot_ms,
            round(pose.lat * 1e7),
            round(pose.lon * 1e7),
            round(pose.alt_msl_m * 1000),
            round(pose.alt_rel_m * 1000),
            round(v * math.cos(hdg)),
            round(v * math.sin(hdg)),
            0,
            round(pose.heading_deg * 100) % 36000,
        )
        m.attitude_send(boot_ms, 0.0, 0.0, math.atan2(math.sin(hdg), math.cos(hdg)), 0, 0, 0)
        # Flags 0: the yaw is relative to the vehicle, as the model's gimbal_yaw_deg.
        q = gimbal_quaternion(pose.gimbal_pitch_deg, pose.gimbal_yaw_deg)
        m.gimbal_device_attitude_status_send(0, 0, boot_ms, 0, q, 0.0, 0.0, 0.0, 0)
        m.camera_fov_status_send(
            boot_ms,
            round(pose.lat * 1e7),
            round(pose.lon * 1e7),
            round(pose.alt_msl_m * 1000),
            round(pose.target_lat * 1e7),
            round(pose.target_lon * 1e7),
            round(pose.target_msl_m * 1000),
            q,
            pose.hfov_deg,
            pose.vfov_deg,
        )
        m.sys_status_send(0, 0, 0, 0, 0, -1, round(pose.battery_pct), 0, 0, 0, 0, 0, 0)
        self.sent += 1

    def tick(self) -> None:
        """The flight's pose now, sent."""
        t = time.monotonic() - self.start_s
        self.send(circle(t), round(t * 1000))

    def run(self, seconds: float | None = None) -> None:
        """Sends at RATE_HZ until stop() (or for `seconds`)."""
        log.info("sending MAVLink at %g Hz to udp %s:%d", RATE_HZ, *self.out.address)
        n = 0
        while not self._stop.is_set():
            if seconds is not None and n >= seconds * RATE_HZ:
                break
            self.tick()
            n += 1
            self._stop.wait(max(0.0, self.start_s + n / RATE_HZ - time.monotonic()))

    def start(self) -> None:
        """run() in a thread beside the video."""
        self._thread = threading.Thread(target=self.run, name="mavlink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.out.sock.close()
