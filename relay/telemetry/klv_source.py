"""telemetry = "klv": MISB ST 0601 in the stream's own MPEG-TS (udp://, file:).

Nothing runs here: the stream hangs a KlvFeed (relay.telemetry.ts_data) on its demux, which
publishes to the hub from the packets it reads anyway. This source only holds the place in
the registry, so that "klv" is a telemetry URL like the others.
"""

from __future__ import annotations

import asyncio

from relay.telemetry.hub import TelemetryHub

KLV_SOURCES = ("udp", "file")  # the source schemes whose demux carries a KLV data PID


class KlvSource:
    async def run(self, hub: TelemetryHub) -> None:
        await asyncio.Event().wait()  # until the stream stops (cancelled)


def from_url(url: str) -> KlvSource:
    return KlvSource()
