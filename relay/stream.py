"""Stream: one named live feed, from its source through the transcoder to its renditions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from relay.config import PASSTHROUGH, StreamConfig
from relay.fanout import ladder as ladder_policy
from relay.fanout.rendition import Rendition
from relay.media.access_unit import AccessUnit, Discontinuity
from relay.media.h264 import profile_level_id
from relay.media.packet import EncodedPacket, encoded_packet
from relay.media.sps import ReorderDetector
from relay.metrics import Rate
from relay.outputs.output import Output
from relay.sources.base import Source
from relay.sources.demux import DemuxSource
from relay.sources.registry import scheme_for
from relay.sources.scheme import Audit
from relay.sources.supervisor import SourceSupervisor
from relay.sources.whip import WhipInbox
from relay.supervise import WorkerThread
from relay.telemetry.model import Telemetry
from relay.telemetry.osd_line import TelemetryLine
from relay.telemetry.runner import StreamTelemetry
from relay.telemetry.ts_data import KlvFeed
from relay.transcode.encoder import RungEncoder
from relay.transcode.processors.thermal import install as install_thermal
from relay.transcode.transcoder import Transcoder

log = logging.getLogger(__name__)

LIVE_WITHIN_S = 2.0


class Stream:
    """Owns a stream's supervisor, transcoder and renditions; start() and aclose() pair up."""

    def __init__(self, config: StreamConfig, fps: int = 30, audit: Audit | None = None) -> None:
        self.config = config
        self.name = config.name
        self.renditions: dict[str, Rendition] = {
            name: Rendition(config.name, name, passthrough=True)
            if name == PASSTHROUGH
            else Rendition(config.name, name, config.rung(name).bitrate)
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
                wanted=self._demand(self.renditions[name], config.rung_idle_s),
            )
            for name in config.renditions
            if name != PASSTHROUGH
        ]
        self.transcoder = (
            Transcoder(config.name, self.encoders, idle_decode=config.idle_decode)
            if self.encoders
            else None
        )
        # A thermal camera's stream: palette, isotherm, hotspot (docs/thermal.md).
        self.thermal = install_thermal(config, self.transcoder)
        if self.transcoder is not None:
            for encoder in self.encoders:
                # The first viewer of an idle rung wakes the transcoder: a cold start now.
                self.renditions[encoder.rung.name].on_first_consumer = self.transcoder.wake
        # What the source's scheme runs for this stream (relay.sources.registry): a pull
        # source's factory, or a listener (rtmp's admission, whip's inbox) around it.
        self.scheme = scheme_for(config.source)
        self.host = self.scheme.host(config.name, config.source, audit)
        # A whip: stream is fed by the WHIP publisher that holds its inbox (relay.webrtc.publish).
        self.whip = self.host if isinstance(self.host, WhipInbox) else None
        self.supervisor = SourceSupervisor(
            config.name, config.source, self._on_unit, self._on_down, self._source_factory()
        )
        # The stream handed on to other engines (relay.outputs), each on its own task.
        self.outputs = [
            Output(
                config.name,
                o.url,
                self.renditions[o.rendition or self._first_rung()],
                audit,
                o.token,
            )
            for o in config.outputs
        ]
        self._output_tasks: list[asyncio.Task[None]] = []
        # Where the drone is (relay.telemetry): its source runs with the stream.
        self.telemetry_runner = StreamTelemetry(config.name, config.telemetry)
        self.telemetry = self.telemetry_runner.hub
        if self.thermal is not None:  # the camera's own hottest reading labels the hotspot
            self.telemetry.listeners.append(self._thermal_reading)
        hub = self.telemetry
        for encoder in self.encoders if config.osd_telemetry else ():  # burnt into the rungs
            encoder.overlay.telemetry = TelemetryLine(lambda: hub.track, config.osd_telemetry)

    def _source_factory(self) -> Callable[[str], Source]:
        """The host's source factory; with telemetry "klv", each source's demux also hands
        its KLV packets to the stream's KlvFeed (relay.telemetry.ts_data)."""
        make = self.host.source
        if self.config.telemetry != "klv":
            return make

        def with_klv(url: str) -> Source:
            source = make(url)
            if isinstance(source, DemuxSource) and self._loop is not None:
                source.on_data = KlvFeed(self.telemetry, self._loop)
            return source

        return with_klv

    def _thermal_reading(self, sample: Telemetry) -> None:
        """A temperature the drone sent (never one read from pixels) labels the hotspot."""
        if self.thermal is not None and sample.temp_max_c is not None:
            self.thermal.set_temperature(sample.temp_max_c, sample.source)

    def _first_rung(self) -> str:
        """The first transcoded rung (the config has made sure there is one for an output)."""
        return next(name for name in self.config.renditions if name != PASSTHROUGH)

    def playable(self, rendition: Rendition) -> bool:
        """False for passthrough while the drone sends B-frames."""
        return ladder_policy.playable(rendition, self.source_reorders)

    def ladder(self) -> list[Rendition]:
        """The playable renditions from the highest bitrate to the lowest (adaptive viewers)."""
        return ladder_policy.ladder(self.renditions.values(), self.source_reorders)

    def instant_start(self, rendition: Rendition) -> Rendition | None:
        """The rung a new viewer of `rendition` starts on (see relay.fanout.ladder)."""
        return ladder_policy.instant_start(rendition, self.ladder())

    def passthrough_profile(self, rendition: Rendition, ladder: list[Rendition]) -> str | None:
        """The drone's H.264 profile-level-id when this viewer may get its own packets
        (it asked for passthrough, or adapts along a ladder that has it), else None."""
        if ladder_policy.may_get_passthrough(rendition, ladder):
            return self.source_profile
        return None

    def keyframe_needs(self) -> Callable[[], tuple[int, int]]:
        """Two counters that grow whenever the stream needs an IDR from its source: requests of
        passthrough viewers (join, PLI, too slow), and the transcoder's resynchronisations
        (decode error, overload, start). A transcoded rung's viewers are not in it: that rung's
        encoder forces its own IDR."""
        passthrough = self.renditions.get(PASSTHROUGH)

        def needs() -> tuple[int, int]:
            asked = passthrough.keyframe_requests if passthrough is not None else 0
            t = self.transcoder
            return asked, (t.decode_errors + t.dropped_units) if t is not None else 0

        return needs

    @staticmethod
    def _demand(rendition: Rendition, idle_s: float) -> Callable[[], bool]:
        """Whether a rung runs (asked in the transcoder's thread): while it has consumers,
        and for `idle_s` after the last one left (a reload, an Auto viewer stepping back)."""
        return lambda: rendition.in_demand(idle_s)

    def _publisher(self, rendition: Rendition) -> Callable[[EncodedPacket], None]:
        def publish(item: EncodedPacket) -> None:  # called in an encoder thread
            loop = self._loop
            if loop is not None:
                rendition.publish_from_thread(loop, item)

        return publish

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.transcoder is not None:
            self.transcoder.start()
        await self.host.start()
        self.supervisor.start()
        self._output_tasks = [asyncio.ensure_future(o.run()) for o in self.outputs]
        self.telemetry_runner.start()
        source = self.scheme.redact(self.config.source)
        log.info("[stream %s] started: %s -> %s", self.name, source, ", ".join(self.renditions))

    async def aclose(self) -> None:
        """Stops source, transcoder and encoders; safe to call twice."""
        for task in self._output_tasks:
            task.cancel()
        await asyncio.gather(*self._output_tasks, return_exceptions=True)
        self._output_tasks = []
        await self.supervisor.aclose()
        await self.host.aclose()
        await self.telemetry_runner.aclose()
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
            passthrough.publish_from_thread(self._loop, item)

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
        if not self.ever_live and self.scheme.waits_for_push:
            return "offline"
        return "connecting"

    def workers(self) -> list[WorkerThread]:
        """The supervised threads: the transcoder's and one per rung encoder."""
        if self.transcoder is None:
            return []
        return [self.transcoder.worker, *(e.worker for e in self.transcoder.encoders)]

    def status(self) -> dict[str, Any]:
        fps, bitrate = self.rate_in.per_second()
        running = {e.rung.name: e.running for e in self.encoders}
        # The size of the last decoded picture: unknown (0) until a rung has run once.
        t = self.transcoder
        width, height = t.frame_size if t is not None and t.frames_decoded else (0, 0)
        return {
            "name": self.name,
            "state": self.state,
            "source": self.scheme.name,
            "renditions": list(self.renditions),
            "viewers": sum(r.viewers for r in self.renditions.values()),
            "fps_in": round(fps, 2),
            "bitrate_in": int(bitrate),
            "width": width if self.ever_live else 0,
            "height": height if self.ever_live else 0,
            "encoders": sum(1 for e in self.encoders if e.running),
            # Lazy rungs: a transcoded rung encodes only while somebody watches it (and for
            # rung_idle_s after); passthrough forwards whatever arrives.
            "rungs": {
                r.name: {
                    "running": r.passthrough and self.state == "live" or running.get(r.name, False),
                    "viewers": r.viewers,
                }
                for r in self.renditions.values()
            },
            "decoding": self.transcoder is not None and self.transcoder.decoding,
            "source_restarts": self.supervisor.restarts,
            "source_error": self.supervisor.last_error,
            "source_has_bframes": self.source_reorders,
            "pts_repaired": self.pts_repaired,
            "source_repairs": dict(self.host.repairs()),
            "thermal": self.thermal.status() if self.thermal is not None else None,
            "outputs": [o.status() for o in self.outputs],
            "publishing": self.whip is not None and self.whip.publisher is not None,
            # A crashed worker restarts by itself; here it shows that it did and why.
            "workers": {w.worker: w.status() for w in self.workers()},
            "worker_restarts": sum(w.restarts for w in self.workers()),
            # True while a crashed worker waits to restart: its rung sends no pictures.
            "degraded": any(w.state == "restarting" for w in self.workers()),
            "privacy": self.privacy_status(),
        }

    def privacy_status(self) -> dict[str, Any] | None:
        """The rungs with privacy processing (docs/privacy.md): "fail_closed" when any of
        them pixelated its last frame whole; None when no rung has privacy."""
        stages = {e.rung.name: e.privacy.status() for e in self.encoders if e.privacy}
        if not stages:
            return None
        failed = any(s["state"] == "fail_closed" for s in stages.values())
        return {
            "state": "fail_closed" if failed else "ok",
            "public_rendition": self.config.public_rendition or None,
            "rungs": stages,
        }
