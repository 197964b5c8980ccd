"""Status: the streams as JSON, health, and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relay.api.access import ALL_STREAMS, BY_HANDLER, Identity, Role, access, identity_of
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.api.prometheus import CONTENT_TYPE_LATEST, render_metrics
from relay.api.scope import visible_streams
from relay.app import Relay
from relay.stream import Stream

routes = web.RouteTableDef()


def _status(relay: Relay, stream: Stream, identity: Identity | None) -> dict[str, Any]:
    status = stream.status()
    # Location data of an operation: only here, where the caller may watch the stream.
    status["telemetry"] = stream.telemetry.latest()
    status["rendition_stats"] = []
    for r in stream.renditions.values():
        fps, bitrate = r.rate.per_second()
        status["rendition_stats"].append(
            {
                "name": r.name,
                "viewers": r.viewers,
                "fps": round(fps, 2),
                "bitrate": int(bitrate),
                "dropped": r.dropped,
                "keyframe_requests": r.keyframe_requests,
                "relay_delay": r.latency_ms.summary(),
            }
        )
    # Who else watches (session ids, renditions, round trips) is for operators; a viewer
    # sees the counts above. A player reads its own session at GET /whep/{stream}/{session}.
    if identity is not None and identity.role >= Role.OPERATOR:
        status["viewer_sessions"] = [
            s.status() for s in relay.sessions.sessions.values() if s.stream == stream.name
        ]
    return status


@routes.get("/api/streams")
@access("viewer", streams=BY_HANDLER)
async def list_streams(request: web.Request) -> web.Response:
    """The streams this identity may watch (the others are not even named)."""
    relay = request.app[RELAY]
    allowed = [relay.streams[name] for name in visible_streams(request, relay.streams)]
    identity = identity_of(request)
    return web.json_response({"streams": [_status(relay, s, identity) for s in allowed]})


@routes.get("/api/streams/{name}")
@access("viewer", stream_key="name")
async def get_stream(request: web.Request) -> web.Response:
    stream = request.app[RELAY].streams.get(request.match_info["name"])
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {request.match_info['name']!r}")
    status = _status(request.app[RELAY], stream, identity_of(request))
    if stream.transcoder is not None:
        t = stream.transcoder
        status["transcoder"] = {
            "frames_decoded": t.frames_decoded,
            "slate_frames": t.slate_frames,
            "dropped_units": t.dropped_units,
            "decode_errors": t.decode_errors,
            # B-frame sources: pictures fed to let the waiting ones out at once.
            "skip_pictures": t.skip_pictures,
            # Lazy rungs: decoding from the last IDR when a rung starts with none running.
            "cold_starts": t.cold_starts,
            "cold_start": t.cold_start_ms.summary(),
            "cold_start_skipped": t.cold_start_skipped,
            "cold_start_stills": t.cold_start_stills,  # the kept IDR shown first, labelled
            "stills_decoded_ahead": t.stills_decoded_ahead,  # while idle, one per source GOP
            "decode": t.decode_ms.summary(),
            "process": t.process_ms.summary(),
            "encoders": [
                {
                    "rendition": e.rung.name,
                    "running": e.running,
                    "starts": e.starts,
                    "size": e.size,
                    "frames": e.frames_out,
                    "dropped": e.dropped,
                    "forced_keyframes": e.forced_keyframes,
                    "encode": e.encode_ms.summary(),
                    "scale": e.scale_ms.summary(),
                    "overlay": e.overlay_ms.summary(),  # the OSD, on this rung's picture
                    "privacy": e.privacy_ms.summary() if e.privacy else None,
                    "latency": e.latency_ms.summary(),
                }
                for e in t.encoders
            ],
        }
    return web.json_response(status)


@routes.get("/healthz")
@access("public")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


# Operators (and a Prometheus scraper's token) allowed every stream: the figures name them all.
@routes.get("/metrics")
@access("operator", streams=ALL_STREAMS)
async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=render_metrics(request.app[RELAY]), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
