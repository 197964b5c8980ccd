"""The audit log: append-only JSON lines of who did what, when, from where.

Evidence practice (docs/measured-facts.md): the log is only ever appended to, each line is one
self-contained JSON object written with a single write() and flushed with fsync, so that a
crash loses at most the line being written and never corrupts earlier ones.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.durable import append_synced

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024  # a line is a few hundred bytes; a longer one is a bug or an attack


class AuditLog:
    """Appends events to `path` (created 0600 with its folder); safe from any thread.

    append() never waits for the disk: one writer thread takes the lines in order and writes
    and fsyncs each, so no caller (the event loop above all) is stalled by an fsync, and no
    caller needs its own to_thread. read() first waits until what was appended is on disk.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lines: queue.Queue[tuple[bytes, str, str]] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def append(self, event: str, who: str, where: str = "", **details: Any) -> dict[str, Any]:
        """Queues one event line for the writer and returns it; write failures are logged,
        never raised, so an unwritable log cannot take live viewing down."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "who": who,
            "from": where,
            **details,
        }
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)
        self._ensure_writer()
        # A lone surrogate (it can come in as a JSON escape) cannot be UTF-8: written as
        # its JSON escape again, so the line is kept and still parses.
        data = (line[:MAX_LINE] + "\n").encode("utf-8", "backslashreplace")
        self._lines.put((data, event, who))
        return entry

    async def record(self, event: str, who: str, where: str = "", **details: Any) -> dict[str, Any]:
        """append() for coroutines (kept for its callers; append itself never blocks)."""
        return self.append(event, who, where, **details)

    def flush(self) -> None:
        """Waits until every line appended so far is written (or its failure logged)."""
        if self._writer is not None:
            self._lines.join()

    def _ensure_writer(self) -> None:
        with self._start_lock:
            if self._writer is None:
                # A daemon: the queue holds a few lines at most; at exit flush() is called.
                self._writer = threading.Thread(target=self._write_lines, name="audit", daemon=True)
                self._writer.start()

    def _write_lines(self) -> None:
        while True:
            data, event, who = self._lines.get()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                append_synced(self.path, data, 0o600)
            except OSError as exc:
                log.error(
                    "[audit] cannot append to %s: %s (event %s by %s lost)",
                    self.path,
                    exc,
                    event,
                    who,
                )
            finally:
                self._lines.task_done()

    def read(self, limit: int = 1000, incident: str | None = None) -> list[dict[str, Any]]:
        """The last `limit` events, oldest first; unreadable lines are skipped. With
        `incident`, only that incident's events among them."""
        self.flush()
        try:
            lines = self.path.read_text("utf-8").splitlines()[-limit:]
        except OSError:
            return []
        if incident is not None:
            # A substring test before parsing: an incident's page polls its trail, and
            # parsing thousands of other incidents' lines held the GIL from the event loop.
            needle = json.dumps({"incident": incident}, ensure_ascii=False, separators=(",", ":"))[
                1:-1
            ]
            lines = [line for line in lines if needle in line]
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if incident is None or event.get("incident") == incident:
                events.append(event)
        return events
