"""Stream: one named live feed, from its source through the transcoder to its renditions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from relay.config import PASSTHROUGH, RUNGS, StreamConfig
from relay.fanout.rendition import Rendition
from relay.media.access_unit import AccessUnit, Discontinuity
from relay.media.h264 import profile_level_id
from relay.media.sps import ReorderDetector
from relay.metrics import Rate
from relay.sources.base import SourceFactory
from relay.sources.demux import RtmpPushSource
from relay.sources.redact import redact_url
from relay.sources.registry import LISTENING_SCHEMES, open_source, scheme_of
from relay.sources.rtmp_ingest import Audit, RtmpIngest
from relay.sources.supervisor import SourceSupervisor
from relay.sources.whip import WhipInbox
from relay.supervise import WorkerThread
from relay.transcode.encoder import EncodedPacket, RungEncoder, encoded_packet
from relay.transcode.transcoder import Transcoder

log = logging.getLogger(__name__)

LIVE_WITHIN_S = 2.0


class Stream:
    """Owns a stream's supervisor, transcoder and renditions; start() and aclose() pair up."""

    def __init__(self, config: StreamConfig, fps: int = 30, audit: Audit | None = None) -> None:
        self.config = config
        self.name = config.name
        self.renditions: dict[str, Rendition] = {
            name: Rendition(config.name, name, config.rung(name).bitrate if name in RUNGS else None)
            for name in config.renditions
        }
        self.rate_in = Rate()
        self.ever_live = False
        self._last_unit_ns = 0
        self._last_passthrough_pts = -1
        self._reorder = ReorderDetector()
        # WebRTC carries no B-frames: once the drone's pts are seen out of decode order, its
        # own packets are no rendition for a browser (the transcoded rungs still are).
        self.source_reorders = False
        self.pts_repaired = 0  # pts moved forward: the source's stepped back (no B-frames)
        self._last_pts_in: int | None = None
        self.source_profile: str | None = None  # the drone's profile-level-id, from its SPS
        self._loop: asyncio.AbstractEventLoop | None = None
        # Called in the source's thread with every unit as it arrived (and a Discontinuity
        # when the source goes down): the recorder's tap. Listeners must never block.
        self.unit_listeners: list[Callable[[AccessUnit | Discontinuity], None]] = []
        self.encoders = [
            RungEncoder(
                config.name,
                config.rung(name),
                fps,
                publish=self._publisher(self.renditions[name]),
                want_keyframe=self.renditions[name].take_keyframe_request,
            )
            for name in config.renditions
            if name != PASSTHROUGH
        ]
        self.transcoder = Transcoder(config.name, self.encoders) if self.encoders else None
        # An rtmp:// source listens through the stream's own ingest, which checks app and key;
        # a whip: stream is fed by the WHIP publisher that holds its inbox
        # (relay.webrtc.publish).
        scheme = scheme_of(config.source)
        self.ingest = RtmpIngest(config.name, config.source, audit) if scheme == "rtmp" else None
        self.whip = WhipInbox(config.name) if scheme == "whip" else None
        factory: SourceFactory = open_source
        if self.ingest is not None:
            factory = partial(RtmpPushSource, ingest=self.ingest)
        elif self.whip is not None:
            factory = self.whip.source
        self.supervisor = SourceSupervisor(
            config.name, config.source, self._on_unit, self._on_down, factory
        )

    def playable(self, rendition: Rendition) -> bool:
        """False for passthrough while the drone sends B-frames."""
        return rendition.nominal_bitrate is not None or not self.source_reorders

    def ladder(self) -> list[Rendition]:
        """The playable renditions from the highest bitrate to the lowest (adaptive viewers)."""
        usable = [r for r in self.renditions.values() if self.playable(r)]
        return sorted(usable, key=lambda r: r.bitrate, reverse=True)

    def instant_start(self, rendition: Rendition) -> Rendition | None:
        """Where a new viewer of `rendition` gets its first picture at once: a passthrough
        viewer starts on the best transcoded rung (its encoder forces an IDR now) and moves to
        the drone's own packets at the drone's next IDR, instead of waiting up to a whole
        source GOP (seconds, with drone settings) for a first frame."""
        if rendition.nominal_bitrate is not None:
            return None  # a transcoded rung forces its own IDR
        return next((r for r in self.ladder() if r.nominal_bitrate is not None), None)

    def passthrough_profile(self, rendition: Rendition, ladder: list[Rendition]) -> str | None:
        """The drone's H.264 profile-level-id when this viewer may get its own packets
        (it asked for passthrough, or adapts along a ladder that has it), else None."""
        if any(r.nominal_bitrate is None for r in [rendition, *ladder]):
            return self.source_profile
        return None

    def _publisher(self, rendition: Rendition) -> Any:
        def publish(item: EncodedPacket) -> None:  # called in an encoder thread
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(rendition.publish, item)

        return publish

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.transcoder is not None:
            self.transcoder.start()
        if self.ingest is not None:
            await self.ingest.start()
        self.supervisor.start()
        source = redact_url(self.config.source)
        log.info("[stream %s] started: %s -> %s", self.name, source, ", ".join(self.renditions))

    async def aclose(self) -> None:
        """Stops source, transcoder and encoders; safe to call twice."""
        await self.supervisor.aclose()
        if self.ingest is not None:
            await self.ingest.aclose()
        if self.transcoder is not None:
            await asyncio.to_thread(self.transcoder.close)
        for rendition in self.renditions.values():
            for subscriber in list(rendition.subscribers):
                subscriber.close()

    def _on_unit(self, unit: AccessUnit) -> None:
        """Every access unit from the source, in the source's thread."""
        self._last_unit_ns = unit.arrival_ns
        self.ever_live = True
        self.rate_in.add(len(unit.data), unit.arrival_ns)
        reorders = self._reorder.reorders(unit)
        if not reorders and not self.source_reorders:
            unit = self._repair_pts(unit)
        for listener in self.unit_listeners:
            listener(unit)
        if self.transcoder is not None:
            self.transcoder.feed(unit)
        if reorders:
            if not self.source_reorders and self._loop is not None:
                log.warning(
                    "[stream %s] the source sends B-frames: no passthrough to "
                    "browsers, transcoded rungs only",
                    self.name,
                )
                self._loop.call_soon_threadsafe(self._end_passthrough)
            self.source_reorders = True
        passthrough = self.renditions.get(PASSTHROUGH)
        if passthrough is not None and unit.keyframe:
            self.source_profile = profile_level_id(unit.data) or self.source_profile
        if passthrough is not None and self._loop is not None and not self.source_reorders:
            # WebRTC needs timestamps that never go backwards.
            pts = max(unit.pts, self._last_passthrough_pts + 1)
            self._last_passthrough_pts = pts
            item = encoded_packet(unit.data, pts, unit.keyframe, unit.arrival_ns)
            self._loop.call_soon_threadsafe(passthrough.publish, item)

    def _repair_pts(self, unit: AccessUnit) -> AccessUnit:
        """Without B-frames a pts that steps back is jitter (DJI, go2rtc #1969): moved just
        after the previous one, for every consumer (passthrough, recording), and counted."""
        last, self._last_pts_in = self._last_pts_in, unit.pts
        if last is None or unit.pts > last:
            return unit
        self.pts_repaired += 1
        self._last_pts_in = last + 1
        return replace(unit, pts=last + 1, dts=None if unit.dts is None else last + 1)

    def _end_passthrough(self) -> None:
        # Its viewers' players reconnect by themselves, onto a rung they can play.
        passthrough = self.renditions.get(PASSTHROUGH)
        for subscriber in list(passthrough.subscribers if passthrough else ()):
            subscriber.close()

    def _on_down(self, reason: str) -> None:
        for listener in self.unit_listeners:
            listener(Discontinuity(reason))
        if self.transcoder is not None:
            self.transcoder.feed(Discontinuity(reason))
        self._last_passthrough_pts = -1
        self._reorder = ReorderDetector()
        self._last_pts_in = None
        self.source_reorders = False  # the next connection may be another drone

    @property
    def state(self) -> str:
        """live: units arriving; connecting: (re)opening the source; offline: a listener
        still waiting for its first push."""
        if time.monotonic_ns() - self._last_unit_ns < LIVE_WITHIN_S * 1e9 and self.ever_live:
            return "live"
        if not self.ever_live and scheme_of(self.config.source) in LISTENING_SCHEMES:
            return "offline"
        return "connecting"

    def workers(self) -> list[WorkerThread]:
        """The supervised threads: the transcoder's and one per rung encoder."""
        if self.transcoder is None:
            return []
        return [self.transcoder.worker, *(e.worker for e in self.transcoder.encoders)]

    def status(self) -> dict[str, Any]:
        fps, bitrate = self.rate_in.per_second()
        width, height = self.transcoder.frame_size if self.transcoder else (0, 0)
        return {
            "name": self.name,
            "state": self.state,
            "source": scheme_of(self.config.source),
            "renditions": list(self.renditions),
            "viewers": sum(r.viewers for r in self.renditions.values()),
            "fps_in": round(fps, 2),
            "bitrate_in": int(bitrate),
            "width": width if self.ever_live else 0,
            "height": height if self.ever_live else 0,
            "encoders": sum(1 for e in self.encoders if e.size is not None),
            "source_restarts": self.supervisor.restarts,
            "source_error": self.supervisor.last_error,
            "source_has_bframes": self.source_reorders,
            "pts_repaired": self.pts_repaired,
            "source_repairs": dict(self.ingest.repairs) if self.ingest else {},
            "publishing": self.whip is not None and self.whip.publisher is not None,
            # A crashed worker restarts by itself; here it shows that it did and why.
            "workers": {w.worker: w.status() for w in self.workers()},
            "worker_restarts": sum(w.restarts for w in self.workers()),
            # True while a crashed worker waits to restart: its rung sends no pictures.
            "degraded": any(w.state == "restarting" for w in self.workers()),
        }
