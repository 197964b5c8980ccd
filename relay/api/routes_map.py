"""The map page (/map) and its data: every drone the identity may watch, with its latest
sample and its recent track, live as one event stream for all of them; map tiles from a
local folder (config `[map] tiles`).

The page itself holds nothing of an operation; positions come only through the routes below,
which show a stream's telemetry to exactly those who may watch it (as /api/streams does).
One event stream for all drones rather than one per drone: a browser opens at most six
HTTP/1.1 connections to a host, and a control room may follow more drones than that.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from relay.api.access import BY_HANDLER, NO_STREAM, access, in_query
from relay.api.errors import SECURITY_HEADERS, json_error
from relay.api.keys import RELAY
from relay.api.routes_telemetry import HEARTBEAT_S, _event, _still_allowed
from relay.api.routes_web import web_dir
from relay.api.scope import visible_streams
from relay.config.map import TILE_TYPES, MapConfig
from relay.stream import Stream
from relay.telemetry.hub import Subscriber, TelemetryHub

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

LOCAL_TILES = "/map/tiles/{z}/{x}/{y}"
TILE_MAX_AGE_S = 86_400  # tiles do not change during an operation
CSP = "Content-Security-Policy"
MAX_EVENT_STREAMS = 64


def _tiles(config: MapConfig) -> dict[str, Any]:
    """What the page needs to draw the background: a tile URL template, or none (grid)."""
    url = LOCAL_TILES if config.tiles else config.tiles_url or None
    return {
        "url": url,
        "min_zoom": config.min_zoom,
        "max_zoom": config.max_zoom,
        "attribution": config.attribution,
    }


def track(hub: TelemetryHub) -> list[list[float]]:
    """The hub's recent positions, oldest first, as [lat, lon, time]."""
    return [[s.lat, s.lon, s.time] for s in hub.history if s.lat is not None and s.lon is not None]


def _has_telemetry(stream: Stream) -> bool:
    """A source is configured, or a sample arrived."""
    return bool(stream.config.telemetry) or stream.telemetry.last is not None


@routes.get("/map")
@access("viewer", streams=NO_STREAM)  # the page asks /api/map, which is scoped
async def map_page(request: web.Request) -> web.FileResponse:
    headers = {"Cache-Control": "no-cache"}
    origin = request.app[RELAY].config.map.tile_origin
    if origin:  # the browsers load tiles from the LAN tile server named in the config
        csp = SECURITY_HEADERS[CSP].replace("img-src 'self'", f"img-src 'self' {origin}")
        headers[CSP] = csp
    return web.FileResponse(web_dir() / "map.html", headers=headers)


@routes.get("/api/map")
@access("viewer", streams=BY_HANDLER)
async def map_data(request: web.Request) -> web.Response:
    """{tiles, drones: [{name, has_telemetry, telemetry, track}]}: every stream the identity
    may watch (the page draws those with telemetry and names the others)."""
    streams = request.app[RELAY].streams
    drones = [
        {
            "name": s.name,
            "has_telemetry": _has_telemetry(s),
            "telemetry": s.telemetry.latest(),
            "track": track(s.telemetry),
        }
        for s in (streams[name] for name in visible_streams(request, streams))
    ]
    return web.json_response({"tiles": _tiles(request.app[RELAY].config.map), "drones": drones})


@routes.get("/api/streams/{name}/telemetry/track")
@access("viewer", stream_key="name")
async def stream_track(request: web.Request) -> web.Response:
    """The stream's recent positions (the last minute at 10 Hz), oldest first."""
    stream = request.app[RELAY].streams.get(request.match_info["name"])
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {request.match_info['name']!r}")
    return web.json_response({"name": stream.name, "track": track(stream.telemetry)})


async def _follow(
    stream: Stream, subscriber: Subscriber, out: asyncio.Queue[tuple[str, Any]]
) -> None:
    """One drone's samples into the shared queue; the latest again every second without."""
    hub = stream.telemetry
    while not subscriber.closed:
        sample = await subscriber.next(HEARTBEAT_S)
        if subscriber.closed:
            break
        view = hub.latest() if sample is None else sample.view(hub.clock())
        if view is not None:
            # Waits while the viewer is slow: the subscriber's one-slot mailbox then keeps
            # only the newest sample and counts the rest as dropped.
            await out.put((stream.name, view))
    await out.put((stream.name, None))  # this drone's stream stopped


@routes.get("/api/map/events")
@access("viewer", streams=in_query("stream"))
async def map_events(request: web.Request) -> web.StreamResponse:
    """?stream=a&stream=b: text/event-stream of {"stream", "telemetry"}: each drone's latest
    view now, then its new samples (at most 10 Hz each), its latest every second without one."""
    relay_streams = request.app[RELAY].streams
    names = list(dict.fromkeys(request.query.getall("stream", [])))
    if not 1 <= len(names) <= MAX_EVENT_STREAMS:
        return json_error(400, "bad_stream", f"name 1 to {MAX_EVENT_STREAMS} streams (?stream=)")
    unknown = [n for n in names if n not in relay_streams]
    if unknown:
        return json_error(404, "unknown_stream", f"no stream named {unknown[0]!r}")
    streams = [relay_streams[n] for n in names]
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    out: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=2 * len(streams) + 1)
    subscribers = {s.name: s.telemetry.subscribe() for s in streams}
    tasks = [
        asyncio.create_task(_follow(s, subscribers[s.name], out), name=f"map-{s.name}")
        for s in streams
    ]
    live = len(tasks)
    try:
        for s in streams:
            await response.write(_event({"stream": s.name, "telemetry": s.telemetry.latest()}))
        while live:
            name, view = await out.get()
            if view is None:
                live -= 1
                continue
            if not _still_allowed(request):
                break
            await response.write(_event({"stream": name, "telemetry": view}))
    except ConnectionError:  # the viewer went away
        pass
    finally:
        for task in tasks:
            task.cancel()
        for s in streams:
            s.telemetry.unsubscribe(subscribers[s.name])
        await asyncio.gather(*tasks, return_exceptions=True)
    return response


TILE_PART = re.compile(r"^[0-9]{1,7}$")


@routes.get("/map/tiles/{z}/{x}/{y}")
@access("viewer", streams=NO_STREAM)  # a map of the area: no operation's data
async def tile(request: web.Request) -> web.StreamResponse:
    """A tile from the configured folder; 404 where the folder has none (the page then shows
    its grid there)."""
    config = request.app[RELAY].config.map
    z, x, y = (request.match_info[k] for k in ("z", "x", "y"))
    if not config.tiles:
        return json_error(404, "no_tiles", "no tile folder configured ([map] tiles)")
    if not all(TILE_PART.match(v) for v in (z, x, y)) or int(z) > 30:
        return json_error(400, "bad_tile", "z, x, y are numbers")
    path = Path(config.tiles.replace("{z}", z).replace("{x}", x).replace("{y}", y))
    if not await asyncio.to_thread(path.is_file):
        return json_error(404, "no_tile", f"no tile {z}/{x}/{y} in the tile folder")
    headers = {
        "Cache-Control": f"max-age={TILE_MAX_AGE_S}",
        "Content-Type": TILE_TYPES[config.suffix],
    }
    return web.FileResponse(path, headers=headers)
