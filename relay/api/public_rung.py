"""Which renditions an identity may play: share links get the stream's public rendition only.

Every WHEP offer picks its rendition here (pick_rendition), so the rule cannot be forgotten
by a route: a share link's viewer (the city hall's screen, the press) gets the rung with
privacy processing that the stream names as public_rendition, never another one, and a
stream without one cannot be shared unless its config says shareable_without_privacy
(docs/privacy.md).
"""

from __future__ import annotations

from aiohttp import web

from relay.api.errors import json_error
from relay.auth.identity import Identity
from relay.config import StreamConfig
from relay.fanout.rendition import Rendition
from relay.stream import Stream


def public_only(identity: Identity) -> bool:
    """Whether this identity may see the public rendition only (share links)."""
    return identity.kind == "share"


def unshareable(config: StreamConfig) -> str:
    """Why the stream cannot be shared ("" when it can)."""
    if config.public_rendition or config.shareable_without_privacy:
        return ""
    return (
        f"stream {config.name!r} has no public rendition (a rung with privacy masks); "
        "set public_rendition, or shareable_without_privacy = true, in its config"
    )


def renditions_for(stream: Stream, identity: Identity) -> list[str]:
    """The renditions this identity may ask for (the player's choice)."""
    public = stream.config.public_rendition
    if public_only(identity) and public:
        return [public]
    return list(stream.renditions)


def pick_rendition(
    stream: Stream, identity: Identity, wanted: str
) -> tuple[Rendition, list[Rendition]] | web.Response:
    """The rendition a viewer starts on and the ladder it adapts along (empty: it stays),
    or the error answer (403 for a share link asking for more than the public rung)."""
    if not public_only(identity):
        return _pick(stream, wanted)
    public = stream.config.public_rendition
    if not public:
        why = unshareable(stream.config)
        if why:  # a link made before the config changed
            return json_error(403, "no_public_rendition", f"a share link may not watch: {why}")
        return _pick(stream, wanted)
    if wanted not in ("auto", public):
        return json_error(
            403,
            "public_rendition_only",
            f"a share link may watch only the public rendition {public!r} of "
            f"{stream.name!r}, not {wanted!r}",
        )
    return _pick(stream, public)  # a fixed rung: no adaptation onto unmasked ones


def _pick(stream: Stream, wanted: str) -> tuple[Rendition, list[Rendition]] | web.Response:
    """No rendition, or "auto": the first configured rung that browsers can play now."""
    if wanted == "auto":
        ladder = stream.ladder()
        if not ladder:
            return json_error(
                409,
                "no_playable_rendition",
                f"stream {stream.name!r} has only passthrough and its source "
                "sends B-frames, which WebRTC cannot carry; configure a rung",
            )
        return next(r for r in stream.renditions.values() if r in ladder), ladder
    rendition = stream.renditions.get(wanted)
    if rendition is None:
        return json_error(
            404,
            "unknown_rendition",
            f"stream {stream.name!r} has no rendition {wanted!r}; "
            f"it has {', '.join(stream.renditions)}",
        )
    if not stream.playable(rendition):
        others = ", ".join(r.name for r in stream.ladder()) or "none"
        return json_error(
            409,
            "not_playable",
            f"the drone sends B-frames, which WebRTC cannot carry: "
            f"{rendition.name!r} is not playable now; choose one of {others}",
        )
    return rendition, []
