"""Prometheus exposition of the relay's own measurements, through prometheus-client.

A custom collector reads the counters the stages already keep (plain ints and histograms
written by their own threads) when a scraper asks, so nothing is added to the media path.
prometheus-client writes the text format: escaping of label values, `_total` on counters,
`_bucket`/`_sum`/`_count` on histograms. Times are exposed in seconds, the base unit.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from relay.api.prometheus_telemetry import telemetry_metrics
from relay.app import Relay
from relay.metrics import Histogram
from relay.transcode import encoder as encoder_module
from relay.transcode.processors.privacy import PrivacyStage

STATES = ("live", "connecting", "offline")

__all__ = ["CONTENT_TYPE_LATEST", "RelayCollector", "render_metrics"]


class _Families:
    """Metric families by name, each declared with its labels on first use."""

    def __init__(self) -> None:
        self.families: dict[str, Metric] = {}

    def gauge(self, name: str, doc: str, value: float, **labels: str) -> None:
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = GaugeMetricFamily(name, doc, labels=list(labels))
        family.add_metric(list(labels.values()), value)  # type: ignore[attr-defined]

    def counter(self, name: str, doc: str, value: float, **labels: str) -> None:
        """`name` without `_total`: the text format adds it."""
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = CounterMetricFamily(name, doc, labels=list(labels))
        family.add_metric(list(labels.values()), value)  # type: ignore[attr-defined]

    def seconds(self, name: str, doc: str, h: Histogram, **labels: str) -> None:
        """A histogram kept in milliseconds, exposed in seconds."""
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = HistogramMetricFamily(name, doc, labels=list(labels))
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*h.buckets, None), h.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound is None else repr(bound / 1000), running))
        family.add_metric(  # type: ignore[attr-defined]
            list(labels.values()), buckets, sum_value=h.total / 1000
        )


class RelayCollector(Collector):
    """Reads a running relay's streams, renditions, encoders and viewers at scrape time."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def collect(self) -> Iterator[Metric]:
        m = _Families()
        relay = self.relay
        m.gauge("relay_viewers", "WebRTC viewer sessions", relay.sessions.count())
        _process(m, relay)
        m.counter(
            "relay_encoders_created",
            "x264 encoders created in this process",
            encoder_module.ENCODERS_CREATED,
        )
        m.seconds(
            "relay_loop_lag_seconds",
            "how late the event loop woke a 10 ms ticker",
            relay.loop_lag.histogram,
        )
        recent = relay.loop_lag.recent().values()
        for quantile, value in zip(("0.5", "0.99", "1"), recent, strict=True):
            m.gauge(
                "relay_loop_lag_recent_seconds",
                "event loop lag over the last 30 s of ticks (-1: no ticks yet)",
                -1 if value is None else value / 1000,
                quantile=quantile,
            )
        for session in relay.sessions.sessions.values():
            m.counter(
                "relay_viewer_dropped",
                "packets dropped for one viewer",
                session.track.dropped,
                stream=session.stream,
                viewer=session.id[:6],
                rendition=session.track.rendition.name,
            )
            _pacer(m, session.stream, session.id[:6], session.track.pacer.stats())
        for stream in relay.streams.values():
            s = stream.name
            for state in STATES:
                m.gauge(
                    "relay_stream_state",
                    "1 for the stream's current state",
                    int(stream.state == state),
                    stream=s,
                    state=state,
                )
            fps, bitrate = stream.rate_in.per_second()
            m.gauge("relay_stream_in_fps", "access units per second in", round(fps, 3), stream=s)
            m.gauge("relay_stream_in_bits_per_second", "bit rate in", int(bitrate), stream=s)
            m.counter(
                "relay_source_restarts", "source restarts", stream.supervisor.restarts, stream=s
            )
            for output in stream.outputs:
                _output(m, s, output.status())
            for r in stream.renditions.values():
                labels = {"stream": s, "rendition": r.name}
                m.gauge(
                    "relay_rendition_viewers",
                    "viewers of a rendition",
                    r.viewers,
                    **labels,
                )
                m.counter(
                    "relay_rendition_dropped",
                    "packets dropped for slow viewers",
                    r.dropped,
                    **labels,
                )
                m.counter(
                    "relay_rendition_keyframe_requests",
                    "keyframe requests (joins, PLI, FIR, slow viewers)",
                    r.keyframe_requests,
                    **labels,
                )
            for worker in stream.workers():
                m.counter(
                    "relay_worker_restarts",
                    "worker thread restarts after a crash (transcoder, rung encoders)",
                    worker.restarts,
                    stream=s,
                    worker=worker.worker,
                )
            telemetry_metrics(m, stream)
            t = stream.transcoder
            if t is None:
                continue
            m.counter(
                "relay_transcoder_dropped_units",
                "access units dropped before decoding",
                t.dropped_units,
                stream=s,
            )
            m.counter("relay_transcoder_decode_errors", "decode errors", t.decode_errors, stream=s)
            m.counter(
                "relay_transcoder_skip_pictures",
                "pictures fed to the decoder only to let B-frame-reordered pictures out",
                t.skip_pictures,
                stream=s,
            )
            m.counter(
                "relay_transcoder_slate_frames", "slate frames sent", t.slate_frames, stream=s
            )
            m.seconds(
                "relay_stage_decode_seconds", "decode time per access unit", t.decode_ms, stream=s
            )
            m.seconds(
                "relay_stage_process_seconds", "processor time per frame", t.process_ms, stream=s
            )
            m.gauge(
                "relay_transcoder_decoding",
                "1 while the stream's source is decoded (some rung runs)",
                int(t.decoding),
                stream=s,
            )
            m.counter(
                "relay_transcoder_cold_starts",
                "decodes from the last IDR when a rung started with nothing decoded",
                t.cold_starts,
                stream=s,
            )
            m.counter(
                "relay_transcoder_cold_start_stills",
                "cold starts that showed the kept IDR's picture first, labelled as a still",
                t.cold_start_stills,
                stream=s,
            )
            m.seconds(
                "relay_stage_cold_start_seconds",
                "decoding the kept units up to the newest picture, per cold start",
                t.cold_start_ms,
                stream=s,
            )
            for e in t.encoders:
                labels = {"stream": s, "rendition": e.rung.name}
                m.gauge(
                    "relay_encoder_running",
                    "1 while the rung encodes (it has viewers, or had within rung_idle_s)",
                    int(e.running),
                    **labels,
                )
                m.counter(
                    "relay_encoder_starts", "times the rung started encoding", e.starts, **labels
                )
                m.counter(
                    "relay_encoder_dropped_frames",
                    "frames dropped before encoding",
                    e.dropped,
                    **labels,
                )
                m.counter(
                    "relay_encoder_forced_keyframes", "IDRs forced", e.forced_keyframes, **labels
                )
                m.seconds("relay_stage_scale_seconds", "scale time per frame", e.scale_ms, **labels)
                m.seconds(
                    "relay_stage_overlay_seconds", "OSD time per frame", e.overlay_ms, **labels
                )
                m.seconds(
                    "relay_stage_encode_seconds", "encode time per frame", e.encode_ms, **labels
                )
                m.seconds(
                    "relay_latency_in_to_encoded_seconds",
                    "source arrival to encoded packet",
                    e.latency_ms,
                    **labels,
                )
                if e.privacy is not None:
                    _privacy(m, e.privacy, e.privacy_ms, labels)
        yield from m.families.values()


def _privacy(m: _Families, stage: PrivacyStage, ms: Histogram, labels: dict[str, str]) -> None:
    """A rung's privacy stage (docs/privacy.md): its frames, and those that failed closed."""
    m.counter("relay_privacy_frames", "frames through the privacy stage", stage.frames, **labels)
    m.counter(
        "relay_privacy_fail_closed_frames",
        "frames pixelated whole: a detector late, busy, missing or failing, or a new picture",
        stage.fail_closed_frames,
        **labels,
    )
    m.gauge(
        "relay_privacy_fail_closed",
        "1 while the rung's last frame failed closed",
        int(stage.state == "fail_closed"),
        **labels,
    )
    m.seconds("relay_stage_privacy_seconds", "privacy stage time per frame", ms, **labels)


def render_metrics(relay: Relay) -> bytes:
    """The text exposition (CONTENT_TYPE_LATEST) of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RelayCollector(relay))
    return generate_latest(registry)


def _process(m: _Families, relay: Relay) -> None:
    """What must return to its level after viewers come and go (scripts/soak.py reads it)."""
    m.gauge("relay_asyncio_tasks", "tasks on the event loop", len(asyncio.all_tasks()))
    m.gauge(
        "relay_peer_connections",
        "viewer peer connections still in memory (open, or closed and not yet freed)",
        len(relay.sessions.peers),
    )
    m.counter(
        "relay_peer_connections_unlinked",
        "closed viewer peer connections whose reference cycles were cut (freed at once)",
        relay.sessions.reclaimer.unlinked,
    )
    m.counter(
        "relay_peer_stray_tasks_ended",
        "tasks of closed viewer peers still running seconds later, ended",
        relay.sessions.reclaimer.stray_tasks,
    )
    m.gauge("relay_threads", "Python threads", threading.active_count())
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux
        return
    m.gauge("relay_open_fds", "open file descriptors", fds)


# The pacer's counters (relay/webrtc/pacer.py) by kind: (family, help, label, {label value:
# key in the pacer's stats}).
_PACER_COUNTERS = (
    (
        "relay_viewer_packets",
        "RTP packets sent to one viewer, by kind",
        "kind",
        {
            "video": "video_packets",
            "retransmitted": "retransmitted_packets",
            "padding": "padding_packets",
            "fec": "fec_packets",
        },
    ),
    (
        "relay_viewer_retransmits_refused",
        "NACKed packets not resent: over the budget, or too old to help",
        "why",
        {"budget": "retransmits_dropped", "stale": "retransmits_stale"},
    ),
)


def _pacer(m: _Families, stream: str, viewer: str, stats: dict[str, float]) -> None:
    """One viewer's pacer: counters by kind, its queue delay and target rate as gauges."""
    for name, doc, label, keys in _PACER_COUNTERS:
        for value, key in keys.items():
            m.counter(name, doc, stats[key], stream=stream, viewer=viewer, **{label: value})
    m.counter(
        "relay_viewer_media_dropped",
        "frames the pacer dropped after waiting too long",
        stats["media_dropped"],
        stream=stream,
        viewer=viewer,
    )
    m.gauge(
        "relay_viewer_pacer_queue_delay_seconds",
        "how long the oldest queued packet waits",
        stats["queue_delay_ms"] / 1000,
        stream=stream,
        viewer=viewer,
    )
    m.gauge(
        "relay_viewer_pacer_target_bits_per_second",
        "the rate the pacer paces to (x2.5)",
        stats["target_bps"],
        stream=stream,
        viewer=viewer,
    )


def _output(m: _Families, stream: str, st: dict[str, Any]) -> None:
    """An output's figures (relay.outputs.output), labelled with its redacted URL."""
    labels = {"stream": stream, "output": str(st["url"])}
    up = int(st["state"] == "live")
    m.gauge("relay_output_up", "1 while the output's connection is live", up, **labels)
    m.counter("relay_output_frames", "frames handed to the output", st["frames"], **labels)
    m.counter("relay_output_bytes", "bytes handed to the output", st["bytes"], **labels)
    m.counter("relay_output_dropped", "frames dropped: server behind", st["dropped"], **labels)
    m.counter("relay_output_reconnects", "connections retried", st["reconnects"], **labels)
