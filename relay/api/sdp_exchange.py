"""What WHEP (playback) and WHIP (publishing) answer alike: they share one HTTP shape."""

from __future__ import annotations

from aiohttp import web

from relay.api.errors import json_error

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
