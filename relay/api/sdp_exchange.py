"""What WHEP (playback) and WHIP (publishing) answer alike: they share one HTTP shape.

POST of an offer to /{kind}/{stream} answers 201 with the SDP answer, a Location naming the
session and an ETag; on that Location DELETE ends the session and PATCH (trickle ICE) is
refused; OPTIONS on the endpoint is a CORS preflight. routes_whep and routes_whip add only
their own offer handling; session_routes() registers the rest for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from relay.api.access import Need, access, identity_of
from relay.api.body import read_text
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.app import Relay
from relay.auth.ratelimit import retry_after
from relay.webrtc.ice_servers import link_header, viewer_servers
from relay.webrtc.peers import BusyError, PeerManager, PeerSession

SDP = "application/sdp"
MAX_PORT = 65535


def candidate_problem(offer: str) -> str | None:
    """Why an offer's ICE candidates cannot be used, or None.

    aioice takes a candidate's port as any integer and later hands it to sendto(), whose
    OverflowError escapes as a fatal write error of the ICE socket (found by fuzzing the
    WHEP offers): such an offer is refused before a peer connection sees it.
    """
    for line in offer.splitlines():
        if not line.startswith("a=candidate:"):
            continue
        fields = line.split()
        if len(fields) < 8 or fields[6] != "typ":
            return f"malformed candidate line {line[:80]!r}"
        port = fields[5]
        if not port.isascii() or not port.isdigit() or int(port) > MAX_PORT:
            return f"candidate port {port[:16]!r} is not 0..{MAX_PORT}"
    return None


async def read_offer(request: web.Request) -> str | web.Response:
    """The offer SDP of a POST, or the 400/415 answer that refuses it."""
    offer = await read_text(request, SDP)
    problem = candidate_problem(offer)
    if problem is not None:
        return json_error(400, "bad_offer", problem)
    return offer


def answer_created(
    request: web.Request, kind: str, stream: str, session_id: str, answer: str
) -> web.Response:
    """201 with the answer; Location is where DELETE ends the session; the ICE servers the
    caller may use in Link headers (WHIP and WHEP's way)."""
    headers = CIMultiDict({"Location": f"/{kind}/{stream}/{session_id}", "ETag": f'"{session_id}"'})
    for link in ice_links(request):
        headers.add("Link", link)
    return web.Response(status=201, text=answer, content_type=SDP, headers=headers)


def ice_links(request: web.Request) -> list[str]:
    """Link headers (rel="ice-server") with the STUN/TURN servers for this caller, TURN with
    its credential (relay.webrtc.ice_servers); none for an anonymous caller."""
    identity = identity_of(request)
    webrtc = request.app[RELAY].config.webrtc
    if identity is None or not webrtc.ice_servers:
        return []
    servers = viewer_servers(
        webrtc.ice_servers,
        identity.name,
        time.time(),
        username=webrtc.turn_username,
        password=webrtc.turn_password,
        secret=webrtc.turn_secret,
        ttl_s=webrtc.turn_ttl_s,
    )
    return link_header(servers)


def busy(exc: BusyError) -> web.Response:
    """503 for an offer over the relay's offer budget."""
    return json_error(
        503, "busy", str(exc), headers={"Retry-After": retry_after(exc.retry_after_s)}
    )


def trickle_not_supported() -> web.Response:
    """PATCH on a session: trickle ICE and ICE restarts are optional in WHEP and WHIP, and
    the relay's answer already carries every candidate."""
    return json_error(
        405,
        "method_not_allowed",
        "trickle ICE is not supported: the answer carries every candidate",
        headers={"Allow": "DELETE"},
    )


def preflight(request: web.Request) -> web.Response:
    """OPTIONS on the endpoint (public: a browser's CORS preflight carries no credentials).
    A caller who is logged in (the player, before its offer) also gets the ICE servers."""
    headers = CIMultiDict({"Accept-Post": SDP, "Allow": "POST, OPTIONS"})
    for link in ice_links(request):
        headers.add("Link", link)
    headers["Cache-Control"] = "no-store"  # a credential minted for this caller
    return web.Response(status=204, headers=headers)


def caller_name(request: web.Request) -> str:
    """Who made this request, for the audit log (a token's or user's name)."""
    identity = identity_of(request)
    return identity.name if identity is not None else "anonymous"


def session_routes(
    routes: web.RouteTableDef,
    kind: str,
    need: Need,
    manager: Callable[[Relay], PeerManager[Any]],
    may_end: Callable[[web.Request, Any], bool],
) -> None:
    """Registers DELETE and PATCH on /{kind}/{stream}/{session} (with the right `need`)
    and the public OPTIONS on /{kind}/{stream}. A session that `may_end` refuses to the
    caller gets the same 404 as a wrong id: ids are not confirmed to those who may not end
    them."""

    @routes.delete(f"/{kind}/{{stream}}/{{session}}")
    @access(need, stream_key="stream")
    async def delete(request: web.Request) -> web.Response:
        peers = manager(request.app[RELAY])
        session_id = request.match_info["session"]
        session: PeerSession | None = peers.sessions.get(session_id)
        if (
            session is None
            or session.stream != request.match_info["stream"]
            or not may_end(request, session)
        ):
            return json_error(404, "unknown_session", "no such session (ended already?)")
        await peers.close(session_id, "DELETE by client", who=caller_name(request))
        return web.Response(status=200)

    @routes.patch(f"/{kind}/{{stream}}/{{session}}")
    @access(need, stream_key="stream")
    async def patch(request: web.Request) -> web.Response:
        return trickle_not_supported()

    @routes.options(f"/{kind}/{{stream}}")
    @access("public")
    async def options(request: web.Request) -> web.Response:
        return preflight(request)
