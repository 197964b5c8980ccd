"""The audit log: append-only JSON lines of who did what, when, from where.

Evidence practice (FIELD-NOTES): the log is only ever appended to, each line is one
self-contained JSON object written with a single write() and flushed with fsync, so that a
crash loses at most the line being written and never corrupts earlier ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024  # a line is a few hundred bytes; a longer one is a bug or an attack


class AuditLog:
    """Appends events to `path` (created 0600 with its folder); safe from any thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, event: str, who: str, where: str = "", **details: Any) -> dict[str, Any]:
        """Writes one event line and returns it; failures are logged, never raised, so an
        unwritable log cannot take live viewing down."""
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                 "event": event, "who": who, "from": where, **details}
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)
        data = (line[:MAX_LINE] + "\n").encode("utf-8")
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                log.error("[audit] cannot append to %s: %s (event %s by %s lost)",
                          self.path, exc, event, who)
        return entry

    async def record(self, event: str, who: str, where: str = "", **details: Any
                     ) -> dict[str, Any]:
        """append() in a thread: the fsync never stalls the event loop."""
        return await asyncio.to_thread(self.append, event, who, where, **details)

    def read(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The last `limit` events, oldest first; unreadable lines are skipped."""
        try:
            lines = self.path.read_text("utf-8").splitlines()[-limit:]
        except OSError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events
