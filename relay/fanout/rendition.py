"""Rendition: one encoded variant of a stream, shared by all its viewers.

Lives on the event loop. publish() hands each encoded packet by reference to every
subscriber's bounded queue; a subscriber that falls behind is cut back to the next keyframe
and its loss counted, while the producer and the other viewers never wait.

A transport that sends the packets in a form of its own (WebRTC: RTP payloads) registers
that form with want(); publish_from_thread() then builds it once per packet, in the
producer's thread, before the packet reaches the event loop and its viewers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from relay.media.packet import EncodedPacket
from relay.metrics import Histogram, Rate

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 60  # two seconds at 30 fps; a viewer further behind skips ahead
KEYFRAME_COALESCE_S = 0.5  # at most one forced IDR per rung in this window


class Subscriber:
    """One viewer's queue of packets of one rendition: bounded, starts and resumes at
    keyframes. `wake` is called when a packet becomes available (the viewer waits on it)."""

    def __init__(
        self, rendition: Rendition, name: str, wake: Callable[[], None], switching: bool = False
    ) -> None:
        self.rendition = rendition
        self.name = name
        self.wake = wake
        # A viewer moving here from another rung holds two subscribers until this one's
        # keyframe arrives (never, for a peer that never connects): it is counted once, on
        # the rung it watches now, and here only once it has moved.
        self.switching = switching
        self.queue: deque[EncodedPacket] = deque()
        self.waiting_for_keyframe = True
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def offer(self, item: EncodedPacket) -> None:
        if self.waiting_for_keyframe:
            if not item.keyframe:
                return
            if item.still and self.switching:
                # A viewer moving here has a live picture on screen: a cold start's older
                # still would take it back in time. It waits for an IDR of the live picture.
                self.rendition.request_keyframe()
                return
            self.waiting_for_keyframe = False
        if len(self.queue) >= SUBSCRIBER_QUEUE:
            # Too slow: discard the backlog, resume at the next keyframe.
            self.dropped += len(self.queue) + 1
            self.rendition.dropped += len(self.queue) + 1
            log.info("[viewer %s] too slow, discarding %d packets", self.name, len(self.queue) + 1)
            self.queue.clear()
            self.waiting_for_keyframe = True
            self.rendition.request_keyframe()
            return
        self.queue.append(item)
        self.wake()

    def skip_to_live(self, max_age_ns: int) -> int:
        """Drops a backlog whose head is older than `max_age_ns`: up to the newest keyframe
        queued, or, when that is stale too, all of it (a new keyframe is asked for).
        Returns the frames skipped (logged by the caller; not drops of a slow link)."""
        queue, now = self.queue, time.monotonic_ns()
        if not queue or now - queue[0].arrival_ns <= max_age_ns:
            return 0
        newest_key = max((i for i, item in enumerate(queue) if item.keyframe), default=0)
        skipped = newest_key
        for _ in range(newest_key):
            queue.popleft()
        # Passthrough: the drone may take a GOP to send a keyframe; its newest one will do.
        if now - queue[0].arrival_ns > max_age_ns and not self.rendition.passthrough:
            skipped += len(queue)
            queue.clear()
            self.waiting_for_keyframe = True
            self.rendition.request_keyframe()
        return skipped

    def pop(self) -> EncodedPacket | None:
        if not self.queue:
            return None
        self.delivered += 1
        return self.queue.popleft()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.queue.clear()
        self.rendition.unsubscribe(self)
        self.wake()


class Rendition:
    """The encoded packets of one rung, its subscribers and its keyframe requests."""

    def __init__(self, stream: str, name: str, bitrate: int = 0, passthrough: bool = False) -> None:
        self.stream, self.name = stream, name
        # Passthrough: the drone's own packets, at whatever bitrate it sends, no encoder
        # (nobody can force its keyframes); otherwise one of our encoders at `bitrate`.
        self.passthrough = passthrough
        self.nominal_bitrate = bitrate
        self.subscribers: set[Subscriber] = set()
        self.rate = Rate()
        self.latency_ms = Histogram()  # source arrival -> ready for the viewers, per packet
        self.dropped = 0
        self.keyframe_requests = 0
        self.width = 0
        self.height = 0
        self._keyframe_pending = False
        self._last_forced = 0.0
        self._forms: dict[str, Callable[[bytes], Any]] = {}
        # Consumers (subscribers of any kind: viewers, a viewer moving here) decide whether
        # a transcoded rung runs at all (the stream's encoders read in_demand). The hook
        # is called on the loop when the first one arrives, so that the rung starts now.
        self.on_first_consumer: Callable[[], None] | None = None
        self._idle_since: float | None = float("-inf")  # None while consumed; never: -inf

    def want(self, transport: str, build: Callable[[bytes], Any]) -> None:
        """Asks for every packet in `transport`'s form from now on (built once per packet).
        Copy on write: the producer's thread reads the mapping without a lock."""
        if transport not in self._forms:
            self._forms = {**self._forms, transport: build}

    def unwant(self, transport: str) -> None:
        """No more packets in `transport`'s form (its last viewer left): copy on write."""
        if transport in self._forms:
            self._forms = {k: v for k, v in self._forms.items() if k != transport}

    def publish_from_thread(self, loop: asyncio.AbstractEventLoop, item: EncodedPacket) -> None:
        """Called in the producer's thread (an encoder, the source): builds the wanted
        transport forms here, off the event loop, then publishes on the loop."""
        for transport, build in self._forms.items():
            item.form(transport, build)
        if not loop.is_closed():
            loop.call_soon_threadsafe(self.publish, item)

    def publish(self, item: EncodedPacket) -> None:
        """Called on the event loop for every encoded packet of this rung."""
        self.rate.add(item.packet.size)
        self.latency_ms.observe((time.monotonic_ns() - item.arrival_ns) / 1e6)
        if item.keyframe:
            self._keyframe_pending = False  # whoever asked gets this one
        for subscriber in self.subscribers:
            subscriber.offer(item)

    @property
    def bitrate(self) -> float:
        """The rung's bitrate: the encoder's target, or the measured one for passthrough."""
        if not self.passthrough:
            return float(self.nominal_bitrate)
        return self.rate.per_second()[1]

    @property
    def viewers(self) -> int:
        """Viewers watching this rung now (not those still moving here from another)."""
        return sum(1 for s in self.subscribers if not s.switching)

    def in_demand(self, idle_s: float) -> bool:
        """Whether the rung should run: it has consumers, or had some within `idle_s`.
        Read by the transcoder's thread: two plain reads, no lock needed."""
        since = self._idle_since
        return since is None or time.monotonic() - since < idle_s

    def subscribe(self, name: str, wake: Callable[[], None], switching: bool = False) -> Subscriber:
        subscriber = Subscriber(self, name, wake, switching)
        first = not self.subscribers
        self.subscribers.add(subscriber)
        self._idle_since = None
        if first and self.on_first_consumer is not None:
            self.on_first_consumer()
        # A new viewer starts at a keyframe: ask the encoder for one now rather than wait
        # for the GOP to come round.
        self.request_keyframe()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers and self._idle_since is None:
            self._idle_since = time.monotonic()

    def request_keyframe(self) -> None:
        """A viewer needs an IDR (join, PLI, FIR, loss). Coalesced by take_keyframe_request."""
        self.keyframe_requests += 1
        self._keyframe_pending = True

    def take_keyframe_request(self) -> bool:
        """Asked by the encoder thread before each frame: force an IDR now?"""
        if not self._keyframe_pending:
            return False
        now = time.monotonic()
        if now - self._last_forced < KEYFRAME_COALESCE_S:
            return False  # one was forced just now; the request stays pending
        self._last_forced = now
        self._keyframe_pending = False
        return True
