"""The STUN/TURN servers a viewer is told about, with its TURN credentials.

A tablet behind a firewall that blocks UDP, or behind a carrier's NAT, reaches the relay
through a TURN server (Debian's coturn) next to it. The viewer needs the server and a
credential: static ones from the config, or, with coturn's REST scheme (`use-auth-secret`,
`static-auth-secret` in turnserver.conf), a credential minted per viewer from the shared
secret that expires after `turn_ttl_s`. The shared secret itself never leaves the relay.

The servers go out as WHEP/WHIP prescribe: Link headers with rel="ice-server" (on the
answer's 201, and on OPTIONS of the endpoint, which the player asks before its offer so
that its browser gathers relay candidates from the start).

The relay's own peer connections use only the STUN servers: a TURN allocation per answer
would hold every viewer's join for a round trip to the TURN server (and for its timeout when
the server is away), and the relay's host candidates are what a TURN server beside it reaches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class IceServer:
    """One entry of RTCConfiguration.iceServers: its URLs and, for TURN, a credential."""

    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""


def is_turn(url: str) -> bool:
    return url.split(":", 1)[0] in ("turn", "turns")


def rest_credential(secret: str, who: str, ttl_s: float, now: float) -> tuple[str, str]:
    """coturn's REST scheme: the username is "<expiry Unix time>:<who>", the password the
    base64 of HMAC-SHA1 over the username, keyed with the shared secret."""
    username = f"{int(now + ttl_s)}:{who}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def viewer_servers(
    urls: tuple[str, ...],
    who: str,
    now: float,
    *,
    username: str = "",
    password: str = "",
    secret: str = "",
    ttl_s: float = 43_200.0,
) -> list[IceServer]:
    """What a viewer (identity `who`) is told: the STUN URLs as they are, the TURN URLs in one
    entry with the static credential or one minted from the REST secret."""
    stun = [IceServer((url,)) for url in urls if not is_turn(url)]
    turn = tuple(url for url in urls if is_turn(url))
    if not turn:
        return stun
    if secret:
        username, password = rest_credential(secret, _plain(who), ttl_s, now)
    return [*stun, IceServer(turn, username, password)]


def relay_side(urls: tuple[str, ...]) -> tuple[str, ...]:
    """The servers the relay's own peer connections use: STUN only (see the module's doc)."""
    return tuple(url for url in urls if not is_turn(url))


def link_header(servers: list[IceServer]) -> list[str]:
    """One Link header value per URL (RFC 8288 syntax, as WHIP and WHEP specify)."""
    links = []
    for server in servers:
        for url in server.urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username:
                link += (
                    f'; username="{_quoted(server.username)}"'
                    f'; credential="{_quoted(server.credential)}"; credential-type="password"'
                )
            links.append(link)
    return links


def _plain(who: str) -> str:
    """An identity name as a TURN username part: no colon (the REST scheme's separator)."""
    return who.replace(":", "_")


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
