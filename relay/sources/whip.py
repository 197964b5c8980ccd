"""whip: a stream fed by one WebRTC publisher at a time (WHIP), through the usual Source path.

The publisher's peer connection lives on the event loop (relay.webrtc.publish) and hands its
depacketized access units to the stream's WhipInbox. WhipSource.run() is the ordinary
source thread: it waits for a publisher, forwards its units to the Stream, and returns when
the publisher leaves, so that the supervisor, the slate and the stream's state behave as
with an RTMP pusher that comes and goes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from relay.media.access_unit import AccessUnit
from relay.media.h264 import AnnexBRepair, has_slice
from relay.queues import drain
from relay.sources.base import Emit, Source
from relay.sources.scheme import Audit, Scheme

log = logging.getLogger(__name__)

INBOX_UNITS = 30  # one second at 30 fps; the source thread only forwards, so it never fills
POLL_S = 0.5  # how soon a waiting source notices stop


class AlreadyPublishing(RuntimeError):
    """The stream has a live publisher; a second one is refused."""


class _End:
    """Marks the end of one publisher's session in the inbox."""


class WhipInbox:
    """One stream's publishing slot: who publishes now, and the units on their way in."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.publisher: str | None = None  # session id of the live publisher
        self.units_in = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._queue: queue.Queue[AccessUnit | _End] = queue.Queue(INBOX_UNITS)
        # Set by the publisher: asks it for an IDR (RTCP PLI). Called on the event loop.
        self.request_keyframe: Callable[[], None] = lambda: None

    def claim(self, session_id: str) -> None:
        """Takes the slot for a new publisher; raises AlreadyPublishing when taken."""
        with self._lock:
            if self.publisher is not None:
                raise AlreadyPublishing(f"stream {self.stream!r} has a live publisher")
            self.publisher = session_id

    def release(self, session_id: str) -> bool:
        """Frees the slot if `session_id` holds it; the source thread then ends its run."""
        with self._lock:
            if self.publisher != session_id:
                return False
            self.publisher = None
            self.request_keyframe = lambda: None
        self._put(_End())
        return True

    def put(self, session_id: str, unit: AccessUnit) -> None:
        """A publisher's access unit (event loop); never blocks. A unit of a publisher that
        no longer holds the slot is ignored."""
        if self.publisher != session_id:
            return
        self.units_in += 1
        self._put(unit)

    def _put(self, item: AccessUnit | _End) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # The stream is behind: drop the backlog (latest beats complete) and ask the
            # publisher for a fresh IDR, which the transcoder's resync waits for.
            self.dropped += drain(self._queue)
            self._queue.put_nowait(item)
            self.request_keyframe()

    def source(self, url: str) -> Source:
        """A Source reading this inbox (the supervisor's opener for whip: streams)."""
        return WhipSource(url, self)

    async def start(self) -> None:
        """Nothing to start: publishers arrive through the HTTP API (relay.api.routes_whip)."""

    async def aclose(self) -> None:
        """Nothing to close: the publishers' sessions are closed by their manager."""

    def repairs(self) -> dict[str, int]:
        return {}

    def next_item(self, timeout: float) -> AccessUnit | _End | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


class WhipSource:
    """Forwards one publisher's access units to the stream; ends when the publisher leaves."""

    def __init__(self, url: str, inbox: WhipInbox) -> None:
        self.url = url
        self.inbox = inbox

    def run(self, emit: Emit, stop: threading.Event) -> None:
        repair = AnnexBRepair()  # SPS/PPS before each IDR, for passthrough viewers
        started = False
        while not stop.is_set():
            item = self.inbox.next_item(POLL_S)
            if item is None:
                continue
            if isinstance(item, _End):
                if started:
                    log.info("[stream %s] WHIP publisher left", self.inbox.stream)
                    return
                continue  # the end of a publisher that never sent a picture
            started = True
            data, keyframe = repair.repair(item.data)
            if not has_slice(data):
                continue  # an access unit is a picture: SEI or parameter sets alone are none
            emit(AccessUnit(data, item.pts, keyframe or item.keyframe, item.arrival_ns))


def _inbox(stream: str, url: str, audit: Audit | None) -> WhipInbox:
    return WhipInbox(stream)


SCHEMES = (Scheme("whip", _inbox, "whip:", waits_for_push=True),)
