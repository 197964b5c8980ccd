"""Where a telemetry source hands its samples: the hub (relay/telemetry/hub.py) satisfies it.

Kept as a Protocol so the sources here depend on two calls, not on the hub's module.
"""

from __future__ import annotations

from typing import Protocol

from relay.telemetry.model import Telemetry


class Sink(Protocol):
    """Called on the event loop only."""

    def publish(self, sample: Telemetry) -> None:
        """A good sample."""

    def bad(self, cause: str) -> None:
        """Bad input, counted by cause (e.g. "klv checksum mismatch")."""
