"""The frames waiting in a viewer's pacer, bounded in time.

Media that waited longer than MAX_QUEUE_S is not worth sending late: a live picture half a
second behind is better started over from a keyframe. The pacer drops it (counted), asks
for a keyframe and drops what comes until that keyframe, as every frame in between depends
on what was dropped.
"""

from __future__ import annotations

from collections import deque

MAX_QUEUE_S = 0.5  # media waiting longer is dropped and a keyframe asked for


class FrameQueue:
    """Frames as [payloads, next packet index, timestamp+SSRC bytes, queued at, keyframe]:
    one entry per frame, not per packet (the pacer's hot path reads `frames` directly)."""

    def __init__(self) -> None:
        self.frames: deque[list[object]] = deque()
        self.waiting_for_keyframe = False
        self.dropped = 0  # packets

    def add(self, payloads: list[bytes], rest: bytes, now: float, key: bool, rate: float) -> bool:
        """Queues a frame; False (counted) if it is dropped: after a drop, until a keyframe.
        `rate` is the pacing rate in bytes/s."""
        if self.waiting_for_keyframe:
            if not key:
                self.dropped += len(payloads)
                return False
            self.waiting_for_keyframe = False
        # Time spent behind a keyframe does not count as waiting: at a low target one takes
        # longer than MAX_QUEUE_S, and it is the way out of a drop, not a reason for one.
        queued_at = now + self._keyframes_ahead(rate) if self.frames else now
        self.frames.append([payloads, 0, rest, queued_at, key])
        return True

    def _keyframes_ahead(self, rate: float) -> float:
        """Seconds what is left of a keyframe at the head takes to leave at `rate` (a
        keyframe further back is rare: after a drop the queue starts with one)."""
        head = self.frames[0]
        if not head[4] or rate <= 0:
            return 0.0
        payloads: list[bytes] = head[0]  # type: ignore[assignment]
        index: int = head[1]  # type: ignore[assignment]
        return sum(len(p) for p in payloads[index:]) / rate

    def drop_stale(self, now: float) -> bool:
        """Drops every frame not yet started if the next one has waited too long (a later
        frame depends on it); True if it did (then a keyframe is needed)."""
        frames = self.frames
        first = 1 if frames[0][1] else 0  # a frame half sent is finished, not cut
        if len(frames) <= first or now - frames[first][3] <= MAX_QUEUE_S:  # type: ignore[operator]
            return False
        while len(frames) > first:
            self.dropped += len(frames.pop()[0])  # type: ignore[arg-type]
        self.waiting_for_keyframe = True
        return True
