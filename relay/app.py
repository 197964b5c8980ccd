"""The Relay: every stream and viewer session of one process, with one owner."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from relay.audit import AuditLog
from relay.config import Config
from relay.looplag import LoopLag
from relay.recording.manager import IncidentManager
from relay.stream import Stream
from relay.threads import set_codec_nice
from relay.webrtc.publish import PublishManager
from relay.webrtc.sessions import SessionManager

log = logging.getLogger(__name__)


class Relay:
    """Starts the configured streams and owns the viewer sessions; aclose() ends both."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.data_dir = Path(config.server.data_dir)
        self.audit = AuditLog(self.data_dir / "audit.jsonl")
        set_codec_nice(config.server.codec_nice)  # before the streams start their codecs
        self.streams = {s.name: Stream(s, audit=self.audit.append) for s in config.streams}
        self.sessions = SessionManager(config.webrtc, config.limits)
        self.publishers = PublishManager(config.webrtc, self.audit)
        self.incidents = IncidentManager(config.recording, self.audit, self.streams)
        self.started = time.monotonic()
        self.loop_lag = LoopLag()
        self._closed = False

    async def start(self) -> None:
        self.loop_lag.start()
        await self.incidents.start()  # recovers what a crash left open before new units
        for stream in self.streams.values():
            await stream.start()

    async def aclose(self) -> None:
        """Closes viewers first (they hold references into the streams), then the streams."""
        if self._closed:
            return
        self._closed = True
        await self.sessions.aclose()
        await self.publishers.aclose()
        await self.incidents.aclose()  # closes and hashes the open segments
        await asyncio.gather(*(s.aclose() for s in self.streams.values()))
        await asyncio.to_thread(self.audit.flush)  # every line on disk before the exit
        await self.loop_lag.aclose()
        log.info("relay closed")
