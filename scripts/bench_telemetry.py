#!/usr/bin/env python3
"""Telemetry's cost per stream: what MAVLink at 10 Hz costs the event loop's core.

    .venv/bin/python scripts/bench_telemetry.py [--runs 7] [--seconds 20]

One stream's worth of MAVLink at 10 Hz is 50 datagrams a second (GLOBAL_POSITION_INT,
ATTITUDE, GIMBAL_DEVICE_ATTITUDE_STATUS, CAMERA_FOV_STATUS, SYS_STATUS), each parsed, merged,
validated and published to the hub (relay.telemetry.mavlink), plus one live subscriber's
view encoded as an SSE event 10 times a second. Timed as process CPU (no network, no sleep:
the work itself), repeated --seconds worth per run. Goal: <= 1 % of a core per stream.
Prints ONE JSON object: per-datagram and per-event CPU, and the share of a core (medians).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import msgspec
from pymavlink.dialects.v20 import common as mavlink2

from relay.telemetry.hub import TelemetryHub
from relay.telemetry.mavlink import MavlinkSource

HZ = 10


def frames() -> list[bytes]:
    s = mavlink2.MAVLink(None, srcSystem=1)
    q = [1.0, 0.0, 0.0, 0.0]
    return [
        s.global_position_int_encode(
            1, 481372340, 115755310, 520500, 120250, 300, -400, 0, 27050
        ).pack(s),
        s.attitude_encode(1, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0).pack(s),
        s.gimbal_device_attitude_status_encode(0, 0, 1, 0, q, 0.0, 0.0, 0.0, 0).pack(s),
        s.camera_fov_status_encode(1, 0, 0, 0, 0, 0, 0, q, 62.5, 48.0).pack(s),
        s.sys_status_encode(0, 0, 0, 0, 0, 0, 76, 0, 0, 0, 0, 0, 0).pack(s),
    ]


def run(seconds: float) -> tuple[float, float]:
    """(CPU s per datagram, CPU s per SSE event)."""
    hub, source, packets = TelemetryHub("bench"), MavlinkSource("127.0.0.1", 0), frames()
    n = round(seconds * HZ)
    started = time.process_time()
    for _ in range(n):
        for packet in packets:
            source.datagram(packet, hub)
    per_datagram = (time.process_time() - started) / (n * len(packets))
    started = time.process_time()
    for _ in range(n):
        b"data: " + msgspec.json.encode(hub.view_at(hub.clock())) + b"\n\n"
    per_event = (time.process_time() - started) / n
    return per_datagram, per_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=20.0, help="telemetry time per run")
    args = parser.parse_args()
    runs = [run(args.seconds) for _ in range(args.runs)]
    datagram = statistics.median(r[0] for r in runs)
    event = statistics.median(r[1] for r in runs)
    share = (datagram * HZ * len(frames()) + event * HZ) * 100
    print(
        json.dumps(
            {
                "datagram_us": round(datagram * 1e6, 1),
                "sse_event_us": round(event * 1e6, 1),
                "percent_of_a_core_per_stream_at_10_hz": round(share, 3),
                "goal_percent": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
