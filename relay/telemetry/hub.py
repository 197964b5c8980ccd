"""A stream's telemetry hub: the latest sample, a short history, live subscribers, and the
counts of what arrived and what was refused.

Every source (MAVLink, KLV, DJI OSD, HTTP push) publishes here, on the event loop; a source
that reads in a thread hands its samples over with `loop.call_soon_threadsafe(hub.publish, s)`.
The API reads the latest view, the SSE route subscribes, /metrics reads the counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from relay.telemetry.interpolate import HORIZON_S, RATE_OVER_S, view_at
from relay.telemetry.model import Telemetry

log = logging.getLogger(__name__)

TRACK = 64  # measurements in time order that views between them are drawn from
HISTORY = 600  # a minute at 10 Hz: enough for a track; older samples are the recording's job
MAX_HZ = 10.0  # per subscriber: a viewer's screen gains nothing from more
BAD_LOG_EVERY_S = 60.0  # a sender that keeps sending garbage must not fill the log


class Subscriber:
    """One live consumer (an SSE client): a one-slot mailbox where the newest sample wins.

    Telemetry is a state, not a log: a slow consumer should see where the drone is now, not
    work through where it was. A sample replaced before it was taken counts as dropped.
    """

    def __init__(self, hub: TelemetryHub, max_hz: float) -> None:
        self._hub = hub
        self._interval = 1.0 / max_hz
        self._pending: Telemetry | None = None
        self._ready = asyncio.Event()
        self._last_sent = -1e9  # time.monotonic() of the last delivery (or resampled view)
        self.closed = False
        self.delivered = 0
        self.dropped = 0

    def offer(self, sample: Telemetry) -> None:
        if self._pending is not None:
            self.dropped += 1
            self._hub.dropped += 1
        self._pending = sample
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def sent(self) -> None:
        """A view the consumer made itself (a resampled one) went out: it counts for the rate."""
        self._last_sent = time.monotonic()

    async def next(self, wait_s: float) -> Telemetry | None:
        """The newest sample not yet delivered, no sooner than 1/max_hz after the last one;
        None after `wait_s` without a new one, or when the hub closed."""
        try:
            await asyncio.wait_for(self._ready.wait(), wait_s)
        except TimeoutError:
            return None
        wait = self._last_sent + self._interval - time.monotonic()
        if wait > 0 and not self.closed:
            await asyncio.sleep(wait)  # more samples may arrive meanwhile: the newest is sent
        self._ready.clear()
        sample, self._pending = self._pending, None
        if self.closed or sample is None:
            return None
        self._last_sent = time.monotonic()
        self.delivered += 1
        return sample


class TelemetryHub:
    """Per stream. `clock` gives UTC Unix seconds (injectable: tests age a sample without
    sleeping)."""

    def __init__(self, stream: str, clock: Callable[[], float] = time.time) -> None:
        self.stream = stream
        self.clock = clock
        self.last: Telemetry | None = None
        self.history: deque[Telemetry] = deque(maxlen=HISTORY)
        # The newest measurements in time order: a sample older than the one before (a
        # sender's clock set back) starts it anew, so that the newest is always its end.
        self._track: deque[Telemetry] = deque(maxlen=TRACK)
        # Its immutable copy, replaced whole: the encoder threads read it without a lock
        # (relay.telemetry.osd_line) while the loop publishes.
        self.track: tuple[Telemetry, ...] = ()
        self.received: Counter[str] = Counter()  # samples by source
        self.bad_input: Counter[str] = Counter()  # refused input by cause
        self.dropped = 0  # samples replaced in a subscriber's mailbox before it took them
        self._subscribers: set[Subscriber] = set()
        # Called with every sample on the loop (the thermal hotspot's temperature label).
        self.listeners: list[Callable[[Telemetry], None]] = []
        self._bad_logged: dict[str, float] = {}
        self._bad_since_log: Counter[str] = Counter()

    def publish(self, sample: Telemetry) -> None:
        """A new sample (on the event loop): the latest, in the history, to every subscriber."""
        self.last = sample
        self.history.append(sample)
        if self._track and sample.time <= self._track[-1].time:
            self._track.clear()
        self._track.append(sample)
        self.track = tuple(self._track)
        self.received[sample.source] += 1
        for subscriber in self._subscribers:
            subscriber.offer(sample)
        for listener in self.listeners:
            listener(sample)

    def latest(self, now: float | None = None) -> dict[str, Any] | None:
        """The latest sample as every view shows it (age_s, stale), or None before the first."""
        if self.last is None:
            return None
        return self.last.view(self.clock() if now is None else now)

    def view_at(self, t: float, now: float | None = None) -> dict[str, Any] | None:
        """The view for the moment `t` (a viewer's frame on screen: now minus its delay):
        measured, interpolated or estimated (relay.telemetry.interpolate), or None."""
        sample = view_at(self.track, t)
        if sample is None:
            return None
        return sample.view(self.clock() if now is None else now)

    def resampling(self, t: float) -> bool:
        """Whether views around `t` come from between measurements (a source slower than
        MAX_HZ, within the estimate's horizon): an event stream then sends them at MAX_HZ."""
        track = self.track
        return (
            len(track) >= 2
            and track[-1].time - track[-2].time > RATE_OVER_S
            and t - track[-1].time <= HORIZON_S
        )

    def bad(self, cause: str, detail: str = "") -> None:
        """Input a source refused (a corrupt packet, JSON out of schema): counted per cause,
        logged at most once a minute per cause with how many since the last line."""
        self.bad_input[cause] += 1
        self._bad_since_log[cause] += 1
        now = time.monotonic()
        if now - self._bad_logged.get(cause, -BAD_LOG_EVERY_S) < BAD_LOG_EVERY_S:
            return
        log.warning(
            "[stream %s] telemetry: %d bad input(s) (%s) in the last minute%s",
            self.stream,
            self._bad_since_log[cause],
            cause,
            f"; last: {detail[:200]}" if detail else "",
        )
        self._bad_logged[cause] = now
        self._bad_since_log[cause] = 0

    def subscribe(self, max_hz: float = MAX_HZ) -> Subscriber:
        subscriber = Subscriber(self, max_hz)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """Ends every subscription (the stream stops)."""
        for subscriber in list(self._subscribers):
            self.unsubscribe(subscriber)
