"""Telemetry over HTTP: a ground station or bridge pushes samples (`push` streams), viewers
follow them live as server-sent events.

Why SSE and not a WebRTC data channel: the events go through the same HTTP server, login,
token and TLS as the page and the API (the same access rule: who may watch the stream), a
browser's EventSource reconnects by itself, and the viewer's peer connection stays as it is
(no SCTP association to negotiate with every player, WHEP client and recorder).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from relay.api.access import access, identity_of
from relay.api.errors import SECURITY_HEADERS, json_error
from relay.api.keys import AUTH, RELAY
from relay.config.messages import explain
from relay.sources.redact import redact_url
from relay.stream import Stream
from relay.telemetry.hub import MAX_HZ, TelemetryHub
from relay.telemetry.model import parse_push

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

MAX_PUSH = 4096  # one sample is ~300 bytes of JSON
FUTURE_S = 60.0  # a sender's clock may be off by a little; a sample from the future is not
MAX_DELAY_MS = 10_000  # a picture later than this is no live picture
MIN_DELAY_MS = -1_000  # views ahead of now are estimates: not far
HEARTBEAT_S = 1.0  # without new samples the latest is sent again: its age grows, it goes stale
JSON = "application/json"


def _stream(request: web.Request) -> Stream | web.Response:
    name = request.match_info["name"]
    stream = request.app[RELAY].streams.get(name)
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {name!r}")
    return stream


async def _read_small(request: web.Request) -> bytes | None:
    """The body, or None when it is longer than MAX_PUSH (read no further than that)."""
    if request.content_length is not None and request.content_length > MAX_PUSH:
        return None
    chunks, size = [], 0
    while chunk := await request.content.readany():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_PUSH:
            return None
    return b"".join(chunks)


@routes.post("/api/streams/{name}/telemetry")
@access("publish", stream_key="name")
async def push_telemetry(request: web.Request) -> web.Response:
    """One sample in the normalised form (relay.telemetry.model): 204, or 4xx + reason."""
    stream = _stream(request)
    if isinstance(stream, web.Response):
        return stream
    if stream.config.telemetry != "push":
        configured = redact_url(stream.config.telemetry) if stream.config.telemetry else "none"
        return json_error(
            409,
            "not_a_push_stream",
            f"stream {stream.name!r} takes its telemetry from {configured!r}; "
            'only a stream configured with telemetry = "push" accepts samples',
        )
    if request.content_type != JSON:
        return json_error(415, "unsupported_media_type", f"Content-Type must be {JSON}")
    raw = await _read_small(request)
    if raw is None:
        return json_error(413, "too_large", f"a sample is at most {MAX_PUSH} bytes")
    hub = stream.telemetry
    now = hub.clock()
    try:
        sample = parse_push(raw, now)
    except msgspec.ValidationError as exc:
        path, why = explain(exc)
        hub.bad("push_schema", f"{path}: {why}")
        return json_error(400, "bad_telemetry", f"{path}: {why}" if path else why)
    except msgspec.DecodeError:
        hub.bad("push_json")
        return json_error(400, "bad_json", "the body is not valid JSON")
    if sample.time > now + FUTURE_S:
        hub.bad("push_schema", "time in the future")
        return json_error(400, "bad_telemetry", "time: is in the future (check the clock)")
    hub.publish(sample)
    return web.Response(status=204)


def _still_allowed(request: web.Request) -> bool:
    """An event stream outlives the request's check: a browser session that logged out or
    expired, or a share link that expired or was revoked, stops receiving location data
    (looked at before every event). A token is valid for the process's lifetime."""
    identity = identity_of(request)
    if identity is None or identity.session is None:
        return identity is not None
    return request.app[AUTH].by_session(identity.session) is not None


def _event(view: object) -> bytes:
    return b"data: " + msgspec.json.encode(view) + b"\n\n"


def _delay_s(request: web.Request) -> float | None:
    """`?delay_ms=`: the moment the views are for, before now (the viewer's glass delay, less
    a lead: a player holds views until their frame comes; negative: ahead of now)."""
    raw = request.query.get("delay_ms", "0")
    try:
        ms = int(raw)
    except ValueError:
        return None
    return ms / 1000.0 if MIN_DELAY_MS <= ms <= MAX_DELAY_MS else None


def _view(hub: TelemetryHub, delay: float) -> dict[str, Any] | None:
    """The view for the viewer's frame on screen; the newest sample when the frame is older
    than the first one the relay has."""
    return hub.view_at(hub.clock() - delay) or hub.latest()


@routes.get("/api/streams/{name}/telemetry/events")
@access("viewer", stream_key="name")
async def telemetry_events(request: web.Request) -> web.StreamResponse:
    """text/event-stream: the view for the viewer's frame on screen (now minus `delay_ms`),
    on each new sample and, for a source slower than 10 Hz, interpolated or estimated views
    between them (at most 10 Hz); the latest again every second without one (age_s, stale);
    `null` before the first."""
    stream = _stream(request)
    if isinstance(stream, web.Response):
        return stream
    delay = _delay_s(request)
    if delay is None:
        return json_error(
            400,
            "bad_delay",
            f"delay_ms must be a whole number of ms, {MIN_DELAY_MS} to {MAX_DELAY_MS}",
        )
    hub = stream.telemetry
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,  # set now: an event stream's headers are sent before it ends
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
        }
    )
    await response.prepare(request)
    subscriber = hub.subscribe()
    try:
        await response.write(_event(_view(hub, delay)))
        while True:
            resampling = hub.resampling(hub.clock() - delay)
            sample = await subscriber.next(1.0 / MAX_HZ if resampling else HEARTBEAT_S)
            if subscriber.closed or not _still_allowed(request):
                break
            view = _view(hub, delay)
            if view is not None:
                await response.write(_event(view))
                if sample is None:
                    subscriber.sent()  # resampled views count for the 10 Hz too
    except ConnectionError:  # the viewer went away
        pass
    finally:
        hub.unsubscribe(subscriber)
    return response


async def end_subscriptions(app: web.Application) -> None:
    """on_shutdown: event streams end at once, so that the server need not wait for them."""
    for stream in app[RELAY].streams.values():
        stream.telemetry.close()
