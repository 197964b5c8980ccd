"""Privacy masks drawn by operators in the player (docs/privacy.md), kept in the data folder.

A drawn mask is a polygon in picture coordinates (0..1), like a config mask, for one rung
with privacy processing or (rung None) for every such rung of its stream. The store keeps
them per stream in order of creation and writes them all to one JSON file (0600, replaced
atomically), so a restart of the relay keeps them. It knows nothing of HTTP nor of the
encoders: relay.api.routes_privacy_masks validates, persists, audits and hands each rung's
polygons to its PrivacyStage.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.auth.files import read_json, write_private
from relay.config.privacy import MAX_MASKS, MAX_POINTS, Point

log = logging.getLogger(__name__)

FILE = "privacy_masks.json"


@dataclass(frozen=True)
class DrawnMask:
    id: str
    stream: str
    rung: str | None  # None: every rung of the stream that has privacy processing
    author: str
    created: str  # ISO 8601, UTC
    points: tuple[Point, ...]

    def applies_to(self, rung: str) -> bool:
        return self.rung is None or self.rung == rung

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stream": self.stream,
            "rung": self.rung,
            "author": self.author,
            "created": self.created,
            "points": [list(p) for p in self.points],
        }


def new_id() -> str:
    return secrets.token_hex(6)


def _parsed(item: Any) -> DrawnMask | None:
    """A mask read back from the file, or None for an entry that is not one (a hand edit):
    the same limits as the API's, so a file cannot smuggle in what a POST could not."""
    try:
        points = tuple((float(x), float(y)) for x, y in item["points"])
        rung = item["rung"]
        fields = (item["id"], item["stream"], item["author"], item["created"])
    except (KeyError, TypeError, ValueError):
        return None
    if not all(isinstance(f, str) for f in fields) or not (rung is None or isinstance(rung, str)):
        return None
    if not 3 <= len(points) <= MAX_POINTS:
        return None
    if not all(math.isfinite(v) and 0 <= v <= 1 for p in points for v in p):
        return None
    return DrawnMask(fields[0], fields[1], rung, fields[2], fields[3], points)


class MaskStore:
    """The drawn masks of every stream; used from the event loop only (the file is written
    from a thread, with a snapshot taken on the loop)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE
        self._masks: dict[str, list[DrawnMask]] = {}

    def load(self, streams: set[str]) -> None:
        """Reads the file (at start); masks of streams no longer configured, and entries
        that are not masks, are dropped with a warning."""
        data = read_json(self.path, {"masks": []})
        items = data.get("masks", []) if isinstance(data, dict) else []
        for item in items if isinstance(items, list) else []:
            mask = _parsed(item)
            if mask is None or mask.stream not in streams:
                log.warning("[privacy] %s: dropping drawn mask %.200r", self.path, item)
                continue
            kept = self._masks.setdefault(mask.stream, [])
            if len(kept) < MAX_MASKS:
                kept.append(mask)
        if self._masks:
            count = sum(len(m) for m in self._masks.values())
            log.info("[privacy] %d drawn masks from %s", count, self.path)

    def masks(self, stream: str) -> list[DrawnMask]:
        return list(self._masks.get(stream, ()))

    def polygons(self, stream: str, rung: str) -> tuple[tuple[Point, ...], ...]:
        """The drawn polygons that cover rung `rung` of `stream`, oldest first."""
        return tuple(m.points for m in self._masks.get(stream, ()) if m.applies_to(rung))

    def add(self, mask: DrawnMask) -> None:
        self._masks.setdefault(mask.stream, []).append(mask)

    def remove(self, stream: str, mask_id: str) -> DrawnMask | None:
        kept = self._masks.get(stream, [])
        found = next((m for m in kept if m.id == mask_id), None)
        if found is not None:
            kept.remove(found)
        return found

    def snapshot(self) -> bytes:
        """What save() writes: every mask, taken on the loop so a thread may write it."""
        every = [m.view() for masks in self._masks.values() for m in masks]
        return json.dumps({"masks": every}, separators=(",", ":")).encode("utf-8")

    def save(self, data: bytes) -> None:
        """Writes a snapshot (blocking: fsync; call it in a thread)."""
        write_private(self.path, data.decode("utf-8"))
