"""A DJI Pilot 2 stand-in: publishes recorded-style OSD messages to an MQTT broker.

    python -m tests.telemetry.dji_publish PORT SN COUNT INTERVAL_S

Message i: the aircraft flies north (latitude 48.1 + i * 1e-4), so a test can tell which
messages arrived. Messages 3 and 4 are broken (not JSON; latitude out of range). When the
broker is away the publisher keeps retrying the message it could not send, so that the
source's reconnect can be seen by the numbers that arrive afterwards.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiomqtt


def osd(i: int, sn: str) -> dict[str, Any]:
    """Message i, shaped as an M30T's OSD (aircraft properties, pushed at 0.5 Hz)."""
    return {
        "tid": f"tid-{i}",
        "bid": f"bid-{i}",
        "timestamp": int(time.time() * 1000),
        "gateway": sn,
        "data": {
            "latitude": 48.1 + i * 1e-4,
            "longitude": 11.5,
            "height": 612.5,  # ellipsoid
            "elevation": 85.5,
            "attitude_head": -90.0,  # west
            "attitude_pitch": -2.1,
            "attitude_roll": 0.4,
            "horizontal_speed": 6.5,
            "vertical_speed": 0,
            "battery": {"capacity_percent": 77, "remain_flight_time": 1200},
            "cameras": [
                {
                    "payload_index": "53-0-0",
                    "ir_metering_mode": 1,
                    "ir_metering_point": {"x": 0.5, "y": 0.5, "temperature": 312.4},
                }
            ],
            "53-0-0": {
                "payload_index": "53-0-0",
                "gimbal_pitch": -60.0,
                "gimbal_roll": 0,
                "gimbal_yaw": -120.0,  # earth frame: 30 deg left of the nose
                "zoom_factor": 2.0,
                "thermal_global_temperature_max": 455.5,
                "thermal_global_temperature_min": 12.0,
            },
        },
    }


def body(i: int, sn: str) -> bytes:
    if i == 3:
        return b"{not json"
    message = osd(i, sn)
    if i == 4:
        message["data"]["latitude"] = 123.0
    return json.dumps(message).encode()


async def publish(port: int, sn: str, count: int, interval: float) -> None:
    i = 0
    while i < count:
        try:
            async with aiomqtt.Client("127.0.0.1", port, timeout=2.0) as client:
                while i < count:
                    await client.publish(f"thing/product/{sn}/osd", body(i, sn), qos=1)
                    i += 1
                    await asyncio.sleep(interval)
        except aiomqtt.MqttError:
            await asyncio.sleep(0.1)  # the broker is away: retry message i


if __name__ == "__main__":
    asyncio.run(publish(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
