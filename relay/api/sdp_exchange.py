"""What WHEP (playback) and WHIP (publishing) answer alike: they share one HTTP shape."""

from __future__ import annotations

from aiohttp import web

from relay.api.errors import json_error

SDP = "application/sdp"


def trickle_not_supported() -> web.Response:
    """PATCH on a session: trickle ICE and ICE restarts are optional in WHEP and WHIP, and
    the relay's answer already carries every candidate."""
    return json_error(
        405,
        "method_not_allowed",
        "trickle ICE is not supported: the answer carries every candidate",
        headers={"Allow": "DELETE"},
    )


def preflight() -> web.Response:
    """OPTIONS on the endpoint (public: a browser's CORS preflight carries no credentials)."""
    return web.Response(status=204, headers={"Accept-Post": SDP, "Allow": "POST, OPTIONS"})
