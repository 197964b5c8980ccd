"""A WHEP viewer's own state: its rung, the relay's delay, its drops.

The player asks for exactly its own session (`GET` on the WHEP resource URL it got as
`Location`) instead of reading every viewer of the stream from /api/streams: the answer is
O(1) per viewer, and a viewer never learns other sessions' ids or figures.
"""

from __future__ import annotations

from aiohttp import web

from relay.api.access import Identity, Role, access, identity_of
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.api.public_rung import renditions_for
from relay.webrtc.sessions import ViewerSession

routes = web.RouteTableDef()


def may_see(identity: Identity | None, session: ViewerSession) -> bool:
    """A session is its own identity's, or any operator's; others get the 404 of a wrong id."""
    return identity is not None and (identity.name == session.who or identity.role >= Role.OPERATOR)


@routes.get("/whep/{stream}/{session}")
@access("viewer", stream_key="stream")
async def viewer_state(request: web.Request) -> web.Response:
    """{"rendition", "auto", "renditions", "connected", "relay_delay_ms", "dropped", …}."""
    relay = request.app[RELAY]
    name = request.match_info["stream"]
    session = relay.sessions.sessions.get(request.match_info["session"])
    identity = identity_of(request)
    if (
        identity is None
        or session is None
        or session.stream != name
        or not may_see(identity, session)
    ):
        return json_error(404, "unknown_session", "no such session (ended already?)")
    stream = relay.streams[name]
    state = session.status()
    state["stream"] = name
    state["renditions"] = renditions_for(stream, identity)  # a share link: the public one
    return web.json_response(state, headers={"Cache-Control": "no-store"})
