"""A share link's viewers end when the link does.

Revoking a link ends its viewers at once (routes_share); a link that simply expires has no
such moment, so its viewers are looked at once a second and closed when their link no longer
grants anything (expired, revoked, or forgotten).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from relay.api.keys import AUTH, RELAY
from relay.auth.shares import ShareError

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
PREFIX = "share:"  # a share link's viewers are watched by "share:<link id>"


def _reason(why: str) -> str:
    # The same words as the revocation route's: a revoke is stored off the loop, and this
    # watch may see the revoked link and end its viewers first (the audit must not differ).
    for ending in ("expired", "revoked"):
        if ending in why:
            return f"share link {ending}"
    return f"share link: {why}"


async def end_ended_links(app: web.Application) -> int:
    """Closes the viewers whose share link has ended; returns how many."""
    auth, relay = app[AUTH], app[RELAY]
    ending = []
    for session in list(relay.sessions.sessions.values()):
        if not session.who.startswith(PREFIX):
            continue
        link = auth.shares.get(session.who.removeprefix(PREFIX))
        try:
            if link is None:
                raise ShareError("this share link is gone")
            auth.shares.check(link)
        except ShareError as exc:
            reason = _reason(str(exc))
            ending.append((session.id, reason))
    await asyncio.gather(*(relay.sessions.close(sid, reason) for sid, reason in ending))
    return len(ending)


async def watch_share_viewers(app: web.Application) -> None:
    """Runs for the app's lifetime (a task started and cancelled by the factory)."""
    while True:
        await asyncio.sleep(CHECK_EVERY_S)
        try:
            await end_ended_links(app)
        except Exception:  # one bad pass must not end the watch
            log.exception("[share] checking share-link viewers failed")
