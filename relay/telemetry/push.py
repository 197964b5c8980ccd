"""`push`: samples arrive by HTTP (POST /api/streams/{name}/telemetry, relay.api.
routes_telemetry), which publishes them to the hub itself; the source only marks the stream
as one that accepts them, and has nothing to run."""

from __future__ import annotations

import asyncio

from relay.telemetry.hub import TelemetryHub


class PushSource:
    async def run(self, hub: TelemetryHub) -> None:
        await asyncio.Event().wait()  # until cancelled with the stream


def from_url(url: str) -> PushSource:
    return PushSource()
