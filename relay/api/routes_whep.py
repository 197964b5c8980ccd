"""WHEP playback: POST an SDP offer, get the answer and a session Location; DELETE ends it."""

from __future__ import annotations

from aiohttp import web

from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.webrtc.sessions import CapacityError, OfferError

routes = web.RouteTableDef()

SDP = "application/sdp"


@routes.post("/whep/{stream}")
async def whep_offer(request: web.Request) -> web.Response:
    relay = request.app[RELAY]
    name = request.match_info["stream"]
    stream = relay.streams.get(name)
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {name!r}")
    # No rendition (or "auto"): start on the first configured rung and adapt along the
    # ladder; a named rendition is the viewer's choice and stays.
    rendition_name = request.query.get("rendition", "auto")
    auto = rendition_name == "auto"
    rendition = stream.renditions[next(iter(stream.renditions))] if auto else (
        stream.renditions.get(rendition_name))
    if rendition is None:
        return json_error(404, "unknown_rendition",
                          f"stream {name!r} has no rendition {rendition_name!r}; "
                          f"it has {', '.join(stream.renditions)}")
    if request.content_type != SDP:
        return json_error(415, "unsupported_media_type",
                          f"Content-Type must be {SDP}, got {request.content_type!r}")
    try:
        offer = await request.text()
    except UnicodeDecodeError:
        return json_error(400, "bad_offer", "offer is not UTF-8 text")
    try:
        session, answer = await relay.sessions.create_viewer(
            name, rendition, offer, request.remote or "?",
            ladder=stream.ladder() if auto else (), start_on=stream.instant_start(rendition))
    except OfferError as exc:
        return json_error(400, "bad_offer", str(exc))
    except CapacityError as exc:
        return json_error(503, "full", str(exc), headers={"Retry-After": "10"})
    location = f"/whep/{name}/{session.id}"
    return web.Response(status=201, text=answer, content_type=SDP,
                        headers={"Location": location, "ETag": f'"{session.id}"'})


@routes.delete("/whep/{stream}/{session}")
async def whep_delete(request: web.Request) -> web.Response:
    relay = request.app[RELAY]
    session_id = request.match_info["session"]
    session = relay.sessions.sessions.get(session_id)
    if session is None or session.stream != request.match_info["stream"]:
        return json_error(404, "unknown_session", "no such session (ended already?)")
    await relay.sessions.close(session_id, "DELETE by client")
    return web.Response(status=200)


@routes.patch("/whep/{stream}/{session}")
async def whep_patch(request: web.Request) -> web.Response:
    # Trickle ICE and ICE restarts are optional in WHEP; the answer carries all candidates.
    return json_error(405, "method_not_allowed", "trickle ICE is not supported: the answer "
                      "carries every candidate", headers={"Allow": "DELETE"})


@routes.options("/whep/{stream}")
async def whep_options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Accept-Post": SDP, "Allow": "POST, OPTIONS"})
