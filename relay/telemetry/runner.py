"""A stream's telemetry for its lifetime: the hub, and the source (if configured) running as
a task from the stream's start to its close."""

from __future__ import annotations

import asyncio
import logging

from relay.tasks import cancel_and_wait
from relay.telemetry.hub import TelemetryHub
from relay.telemetry.source import TelemetrySource, source_for

log = logging.getLogger(__name__)


class StreamTelemetry:
    def __init__(self, stream: str, url: str) -> None:
        self.stream = stream
        self.hub = TelemetryHub(stream)
        self.source: TelemetrySource | None = source_for(url) if url else None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.source is not None and self._task is None:
            self._task = asyncio.create_task(
                self._run(self.source), name=f"telemetry-{self.stream}"
            )

    async def aclose(self) -> None:
        """Stops the source and ends every subscription; safe to call twice."""
        await cancel_and_wait(self._task)
        self._task = None
        self.hub.close()

    async def _run(self, source: TelemetrySource) -> None:
        # A source counts bad input itself; one that fails (a port in use) is logged and
        # counted, and the stream's pictures go on without it.
        try:
            await source.run(self.hub)
        except Exception as exc:  # the stream outlives its telemetry
            log.error("[stream %s] telemetry source stopped: %r", self.stream, exc)
            self.hub.bad("source_failed", str(exc))
