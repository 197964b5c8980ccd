"""Bounded queues between threads where the latest beats the complete: a producer never
waits, and what it cannot queue costs the oldest items, which are counted by the caller."""

from __future__ import annotations

import queue
from typing import TypeVar

T = TypeVar("T")


def drain(q: queue.Queue[T]) -> int:
    """Empties `q` without blocking; returns how many items it threw away."""
    dropped = 0
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return dropped
        dropped += 1


def put_dropping_oldest(q: queue.Queue[T], item: T) -> int:
    """Puts `item` without blocking, throwing away the oldest items while `q` is full;
    returns how many it threw away (another consumer may make room meanwhile: then none)."""
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                q.get_nowait()
                dropped += 1
            except queue.Empty:
                pass
