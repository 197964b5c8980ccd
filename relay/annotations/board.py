"""The board: every stream's live marks, who follows them, and their expiry.

Viewers are told "something changed" and then read the whole (small, bounded) set again:
a slow viewer never holds a queue of events, it just misses the states in between and gets
the newest (nothing to drop or count). Expired marks leave when anyone looks
(`current`), and a follower wakes at the next expiry to see it go.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable

from relay.annotations.ground import GroundPosition, ground_of
from relay.annotations.model import Annotation, AnnotationBody
from relay.telemetry.model import Telemetry

log = logging.getLogger(__name__)

MAX_PER_STREAM = 50  # more is no picture anyone can read; the 51st is refused (409)
MAX_FOLLOWERS = 200  # per stream: players, the wall, kiosks


class BoardFull(Exception):
    """Too many marks, or too many followers, on one stream."""


class Follower:
    """One viewer's wake-up call: set when the stream's marks change."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.closed = False

    async def wait(self, timeout_s: float) -> None:
        """Returns when the marks changed, or after `timeout_s` (then: look again)."""
        try:
            await asyncio.wait_for(self.changed.wait(), max(0.0, timeout_s))
        except TimeoutError:
            pass
        self.changed.clear()


class AnnotationBoard:
    """Marks by stream (on the event loop only). `clock` gives Unix seconds (tests move it);
    `ground_position` projects a picture point onto the ground (None until one is wired)."""

    def __init__(
        self,
        streams: Iterable[str],
        clock: Callable[[], float] = time.time,
        ground_position: GroundPosition | None = None,
    ) -> None:
        self.clock = clock
        self.ground_position = ground_position
        self._marks: dict[str, dict[str, Annotation]] = {s: {} for s in streams}
        self._followers: dict[str, set[Follower]] = {s: set() for s in streams}

    def knows(self, stream: str) -> bool:
        return stream in self._marks

    def add(
        self, stream: str, body: AnnotationBody, author: str, telemetry: Telemetry | None
    ) -> Annotation:
        """A new mark from a checked body; BoardFull when the stream has its maximum."""
        marks = self.current(stream)
        if len(marks) >= MAX_PER_STREAM:
            raise BoardFull(
                f"stream {stream!r} has {MAX_PER_STREAM} marks already; delete or clear some"
            )
        now = self.clock()
        mark = Annotation(
            id=secrets.token_hex(6),
            stream=stream,
            kind=body.kind,
            x=body.x,
            y=body.y,
            r=body.r if body.kind == "circle" else None,
            x2=body.x2,
            y2=body.y2,
            colour=body.colour,
            label=body.label,
            author=author,
            created=round(now, 3),
            expires=round(now + body.ttl_s, 3),
            public=body.public,
            ground=ground_of(self.ground_position, telemetry, now, body),
        )
        self._marks[stream][mark.id] = mark
        self._changed(stream)
        return mark

    def remove(self, stream: str, mark_id: str) -> Annotation | None:
        """The removed mark, or None when the stream has no (live) mark of that id."""
        self.current(stream)
        mark = self._marks[stream].pop(mark_id, None)
        if mark is not None:
            self._changed(stream)
        return mark

    def clear(self, stream: str) -> list[Annotation]:
        """Removes every live mark of `stream`; returns them."""
        removed = self.current(stream)
        self._marks[stream].clear()
        if removed:
            self._changed(stream)
        return removed

    def current(self, stream: str) -> list[Annotation]:
        """The live marks, oldest first; expired ones leave now (followers are told)."""
        marks = self._marks[stream]
        now = self.clock()
        expired = [k for k, m in marks.items() if m.expires <= now]
        for key in expired:
            del marks[key]
        if expired:
            self._changed(stream)
        return list(marks.values())

    def next_expiry_in(self, stream: str) -> float | None:
        """Seconds until the stream's next mark expires (None: no marks)."""
        marks = self._marks[stream]
        if not marks:
            return None
        return min(m.expires for m in marks.values()) - self.clock()

    def follow(self, stream: str) -> Follower:
        followers = self._followers[stream]
        if len(followers) >= MAX_FOLLOWERS:
            raise BoardFull(f"stream {stream!r} has {MAX_FOLLOWERS} annotation followers")
        follower = Follower()
        followers.add(follower)
        return follower

    def unfollow(self, stream: str, follower: Follower) -> None:
        self._followers[stream].discard(follower)

    def close(self) -> None:
        """Every follower ends (the relay shuts down)."""
        for followers in self._followers.values():
            for follower in followers:
                follower.closed = True
                follower.changed.set()

    def _changed(self, stream: str) -> None:
        for follower in self._followers[stream]:
            follower.changed.set()
