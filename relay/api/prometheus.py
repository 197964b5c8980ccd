"""Prometheus text exposition of the relay's own measurements (rule 6)."""

from __future__ import annotations

import asyncio
import os
import threading

from relay.app import Relay
from relay.metrics import BUCKETS_MS, Histogram
from relay.transcode import encoder as encoder_module

STATES = ("live", "connecting", "offline")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.declared: set[str] = set()

    def metric(self, name: str, kind: str, help_text: str, value: float, **labels: str) -> None:
        if name not in self.declared:
            self.declared.add(name)
            self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        self.lines.append(f"{name}{_labels(**labels) if labels else ''} {value}")

    def histogram(self, name: str, help_text: str, h: Histogram, **labels: str) -> None:
        if name not in self.declared:
            self.declared.add(name)
            self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        running = 0
        for bound, count in zip((*BUCKETS_MS, "+Inf"), h.counts, strict=True):
            running += count
            self.lines.append(f"{name}_bucket{_labels(**labels, le=str(bound))} {running}")
        self.lines.append(f"{name}_sum{_labels(**labels)} {h.total}")
        self.lines.append(f"{name}_count{_labels(**labels)} {h.count}")


def render_metrics(relay: Relay) -> str:
    w = _Writer()
    w.metric("relay_viewers_total", "gauge", "WebRTC viewer sessions", relay.sessions.count())
    _process(w, relay)
    w.metric(
        "relay_encoders_created_total",
        "counter",
        "x264 encoders created in this process",
        encoder_module.ENCODERS_CREATED,
    )
    for session in relay.sessions.sessions.values():
        w.metric(
            "relay_viewer_dropped_total",
            "counter",
            "packets dropped for one viewer",
            session.track.dropped,
            stream=session.stream,
            viewer=session.id[:6],
            rendition=session.track.rendition.name,
        )
    for stream in relay.streams.values():
        s = stream.name
        for state in STATES:
            w.metric(
                "relay_stream_state",
                "gauge",
                "1 for the stream's current state",
                int(stream.state == state),
                stream=s,
                state=state,
            )
        fps, bitrate = stream.rate_in.per_second()
        w.metric(
            "relay_stream_in_fps", "gauge", "access units per second in", round(fps, 3), stream=s
        )
        w.metric("relay_stream_in_bits_per_second", "gauge", "bit rate in", int(bitrate), stream=s)
        w.metric(
            "relay_source_restarts_total",
            "counter",
            "source restarts",
            stream.supervisor.restarts,
            stream=s,
        )
        for r in stream.renditions.values():
            labels = {"stream": s, "rendition": r.name}
            w.metric(
                "relay_rendition_viewers",
                "gauge",
                "viewers of a rendition",
                r.viewers,
                **labels,
            )
            w.metric(
                "relay_rendition_dropped_total",
                "counter",
                "packets dropped for slow viewers",
                r.dropped,
                **labels,
            )
            w.metric(
                "relay_rendition_keyframe_requests_total",
                "counter",
                "keyframe requests (joins, PLI, FIR, slow viewers)",
                r.keyframe_requests,
                **labels,
            )
        t = stream.transcoder
        if t is None:
            continue
        w.metric(
            "relay_transcoder_dropped_units_total",
            "counter",
            "access units dropped before decoding",
            t.dropped_units,
            stream=s,
        )
        w.metric(
            "relay_transcoder_decode_errors_total",
            "counter",
            "decode errors",
            t.decode_errors,
            stream=s,
        )
        w.metric(
            "relay_transcoder_slate_frames_total",
            "counter",
            "slate frames sent",
            t.slate_frames,
            stream=s,
        )
        w.histogram("relay_stage_decode_ms", "decode time per access unit", t.decode_ms, stream=s)
        w.histogram("relay_stage_process_ms", "processor time per frame", t.process_ms, stream=s)
        for e in t.encoders:
            labels = {"stream": s, "rendition": e.rung.name}
            w.metric(
                "relay_encoder_dropped_frames_total",
                "counter",
                "frames dropped before encoding",
                e.dropped,
                **labels,
            )
            w.metric(
                "relay_encoder_forced_keyframes_total",
                "counter",
                "IDRs forced",
                e.forced_keyframes,
                **labels,
            )
            w.histogram("relay_stage_scale_ms", "scale time per frame", e.scale_ms, **labels)
            w.histogram("relay_stage_encode_ms", "encode time per frame", e.encode_ms, **labels)
            w.histogram(
                "relay_latency_in_to_encoded_ms",
                "source arrival to encoded packet",
                e.latency_ms,
                **labels,
            )
    return "\n".join(w.lines) + "\n"


def _process(w: _Writer, relay: Relay) -> None:
    """What must return to its level after viewers come and go (scripts/soak.py reads it)."""
    w.metric("relay_asyncio_tasks", "gauge", "tasks on the event loop", len(asyncio.all_tasks()))
    w.metric(
        "relay_peer_connections",
        "gauge",
        "viewer peer connections still in memory (open, or closed and not yet freed)",
        len(relay.sessions.peers),
    )
    w.metric(
        "relay_peer_connections_unlinked_total",
        "counter",
        "closed viewer peer connections whose reference cycles were cut (freed at once)",
        relay.sessions.reclaimer.unlinked,
    )
    w.metric(
        "relay_peer_stray_tasks_ended_total",
        "counter",
        "tasks of closed viewer peers still running seconds later, ended",
        relay.sessions.reclaimer.stray_tasks,
    )
    w.metric("relay_threads", "gauge", "Python threads", threading.active_count())
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux
        return
    w.metric("relay_open_fds", "gauge", "open file descriptors", fds)
