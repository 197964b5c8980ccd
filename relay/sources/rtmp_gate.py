"""Which connections to an RTMP listener may negotiate: before `publish` a connection is
unauthenticated, so each host holds a few at most, all of them a bounded number (the idlest
makes room for a newcomer), and a host refused too often is ignored for a while."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Connections that have not published are unauthenticated: one host holds at most
# MAX_PENDING_PER_HOST (more are closed at once), and when all MAX_PENDING are taken a new
# connection pushes out the idlest (handshake unfinished first, then the oldest) instead of
# being refused, so idle connections from many hosts cannot lock the drone out.
MAX_PENDING = 32
MAX_PENDING_PER_HOST = 4
MAX_REFUSALS = 10  # refused attempts of one host within REFUSAL_WINDOW_S: then it is ignored
REFUSAL_WINDOW_S = 60.0
MAX_TRACKED_HOSTS = 1024


@dataclass
class Pending:
    """A connection that has not published (yet)."""

    host: str
    where: str
    shaken: bool = False  # its RTMP handshake is done


class Gate:
    """One listener's connections that have not published, and its refused hosts."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.pending: dict[asyncio.Task[None], Pending] = {}  # oldest first
        self.refusals: dict[str, deque[float]] = {}

    def admissible(self, host: str, where: str) -> bool:
        """False for a host that keeps being refused or holds too many pending connections."""
        recent = self.refusals.get(host)
        now = time.monotonic()
        while recent and now - recent[0] > REFUSAL_WINDOW_S:
            recent.popleft()
        if recent is not None and not recent:
            del self.refusals[host]
        elif recent is not None and len(recent) >= MAX_REFUSALS:
            log.debug(
                "[stream %s] RTMP connection from %s ignored (refused too often)",
                self.stream,
                where,
            )
            return False
        if sum(1 for p in self.pending.values() if p.host == host) >= MAX_PENDING_PER_HOST:
            log.warning(
                "[stream %s] RTMP connection from %s closed: that host has %d connections "
                "still negotiating",
                self.stream,
                where,
                MAX_PENDING_PER_HOST,
            )
            return False
        if len(self.pending) >= MAX_PENDING:
            self._evict_idlest(where)
        return True

    def _evict_idlest(self, newcomer: str) -> None:
        # min() keeps the first of equals: the oldest unfinished handshake, else the oldest.
        task, idlest = min(self.pending.items(), key=lambda item: item[1].shaken)
        del self.pending[task]
        task.cancel()
        log.info(
            "[stream %s] RTMP connection from %s closed unpublished to make room for %s",
            self.stream,
            idlest.where,
            newcomer,
        )

    def count_refusal(self, host: str) -> int:
        if host not in self.refusals and len(self.refusals) >= MAX_TRACKED_HOSTS:
            self.refusals.pop(next(iter(self.refusals)))
        recent = self.refusals.setdefault(host, deque())
        recent.append(time.monotonic())
        return len(recent)
