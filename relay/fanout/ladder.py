"""The ladder policy: which of a stream's renditions a viewer may play, adapt along, or
start on. Pure functions of the renditions and what the stream knows of its source."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from relay.fanout.rendition import Rendition


def playable(rendition: Rendition, source_reorders: bool) -> bool:
    """False for passthrough while the drone sends B-frames (WebRTC carries none)."""
    return not rendition.passthrough or not source_reorders


def ladder(renditions: Iterable[Rendition], source_reorders: bool) -> list[Rendition]:
    """The playable renditions from the highest bitrate to the lowest (adaptive viewers)."""
    usable = [r for r in renditions if playable(r, source_reorders)]
    return sorted(usable, key=lambda r: r.bitrate, reverse=True)


def instant_start(rendition: Rendition, ladder: Sequence[Rendition]) -> Rendition | None:
    """Where a new viewer of `rendition` gets its first picture at once: a passthrough
    viewer starts on the best transcoded rung (its encoder forces an IDR now) and moves to
    the drone's own packets at the drone's next IDR, instead of waiting up to a whole
    source GOP (seconds, with drone settings) for a first frame."""
    if not rendition.passthrough:
        return None  # a transcoded rung forces its own IDR
    return next((r for r in ladder if not r.passthrough), None)


def may_get_passthrough(rendition: Rendition, ladder: Sequence[Rendition]) -> bool:
    """Whether this viewer may get the drone's own packets: it asked for passthrough, or
    adapts along a ladder that has it."""
    return any(r.passthrough for r in [rendition, *ladder])
