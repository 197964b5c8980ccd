"""WHEP playback: POST an SDP offer, get the answer and a session Location; DELETE ends it."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from relay.api.access import Role, access, identity_of
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.api.public_rung import pick_rendition
from relay.api.sdp_exchange import answer_created, busy, read_offer, session_routes
from relay.app import Relay
from relay.fanout.start import client_key, start_rung
from relay.webrtc.sessions import BusyError, CapacityError, OfferError, ViewerSession

routes = web.RouteTableDef()


@routes.post("/whep/{stream}")
@access("viewer", stream_key="stream")
async def whep_offer(request: web.Request) -> web.Response:
    relay = request.app[RELAY]
    identity = identity_of(request)
    assert identity is not None
    name = request.match_info["stream"]
    stream = relay.streams.get(name)
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {name!r}")
    # Share links get the public rendition only (relay.api.public_rung).
    picked = pick_rendition(stream, identity, request.query.get("rendition", "auto"))
    if isinstance(picked, web.Response):
        return picked
    rendition, ladder = picked
    try:  # an Auto viewer starts where its link is known to carry (relay.fanout.start)
        key = client_key(identity.name, request.remote or "?", request.query.get("client"))
    except ValueError as exc:
        return json_error(400, "bad_client", str(exc))
    known_bps = relay.sessions.estimates.recall(key)
    if len(ladder) > 1:
        rendition = start_rung(ladder, known_bps)
    offer = await read_offer(request)
    if isinstance(offer, web.Response):
        return offer
    too_many = _over_limits(relay, identity.name, request.remote or "?")
    if too_many:
        return json_error(429, "too_many_viewers", too_many, headers={"Retry-After": "10"})
    # No await from the check until create_viewer has added the session: a burst of
    # offers sees each other.
    try:
        session, answer = await relay.sessions.create_viewer(
            name,
            rendition,
            offer,
            request.remote or "?",
            ladder=ladder,
            start_on=stream.instant_start(rendition),
            source_profile=stream.passthrough_profile(rendition, ladder),
            who=identity.name,
            on_end=_audit_end(relay),
            start_bps=known_bps,
            memory_key=key,
        )
    except OfferError as exc:
        return json_error(400, "bad_offer", str(exc))
    except BusyError as exc:
        return busy(exc)
    except CapacityError as exc:
        return json_error(503, "full", str(exc), headers={"Retry-After": "10"})
    await relay.audit.record(
        "watch_start",
        identity.name,
        request.remote or "?",
        stream=name,
        rendition=rendition.name,
        session=session.id[:8],
        kind=identity.kind,
    )
    return answer_created(request, "whep", name, session.id, answer)


def _over_limits(relay: Relay, who: str, remote: str) -> str:
    """Why this identity or address may not add a viewer now ("" when it may)."""
    limits = relay.config.limits
    sessions = relay.sessions.sessions.values()
    if sum(1 for s in sessions if s.who == who) >= limits.max_viewers_per_identity:
        return f"{who} watches with {limits.max_viewers_per_identity} viewers already"
    pending = sum(1 for s in sessions if s.remote == remote and not s.connected)
    if pending >= limits.max_unconnected_per_address:
        return (
            f"{pending} offers from this address have not connected yet; wait for them or end them"
        )
    return ""


def _audit_end(relay: Relay) -> Callable[[ViewerSession, str], None]:
    """watch_stop for every ending: DELETE, a peer that just disappears, a revoked link."""

    def ended(session: ViewerSession, reason: str) -> None:
        relay.audit.append(
            "watch_stop",
            session.who,
            session.remote,
            stream=session.stream,
            rendition=session.track.rendition.name,
            session=session.id[:8],
            reason=reason,
            seconds=round(time.monotonic() - session.created, 1),
        )

    return ended


def _may_end(request: web.Request, session: ViewerSession) -> bool:
    # Its own viewer, or anyone's for an operator; others get the same 404 as a wrong id.
    identity = identity_of(request)
    return identity is not None and (identity.name == session.who or identity.role >= Role.OPERATOR)


session_routes(
    routes,
    "whep",
    "viewer",
    manager=lambda relay: relay.sessions,
    may_end=_may_end,
)
