"""TelemetryLog: one stream's telemetry of one incident, as JSON lines beside its segments.

Every sample the stream's hub publishes while the incident records is kept (not the 10 Hz
that viewers get: evidence keeps what the drone said). The hub calls `offer` on the event
loop, so a sample is only appended to a list there; a task writes the list out in a thread
once a second and fsyncs it, so a crash loses at most that second. The list is bounded: a
disk that stops taking writes cannot grow the relay's memory, and what did not fit is
counted in the manifest (`dropped`), never silently lost.

File format: one sample per line, the normalised model (relay.telemetry.model) in msgspec's
JSON with the relay's receive time added as `recorded` (UTC Unix seconds): `time` is when the
drone measured it, `recorded` when it arrived, so a player can align both with the video.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import IO

import msgspec

from relay.tasks import cancel_and_wait
from relay.telemetry.model import Telemetry

log = logging.getLogger(__name__)

FILE_NAME = "telemetry.jsonl"
FLUSH_EVERY_S = 1.0
MAX_PENDING = 20_000  # about 30 minutes of a 10 Hz sender with a disk that takes nothing


_encoder = msgspec.json.Encoder()


def encode_line(sample: Telemetry, recorded: float) -> bytes:
    """The sample's JSON object with `recorded` added, and a newline."""
    body = _encoder.encode(sample)
    return body[:-1] + b',"recorded":' + _encoder.encode(round(recorded, 3)) + b"}\n"


class TelemetryLog:
    """Appends `folder/FILE_NAME`; `close` writes the rest and returns (samples, dropped)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME
        self.samples = 0  # written to the file
        self.dropped = 0  # did not fit MAX_PENDING while the disk was stuck
        self.error = ""
        self._pending: list[bytes] = []
        self._file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        """Opens the file (blocking: call it from a thread, like the segment writer)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "ab")

    def run(self) -> None:
        """Starts the flushing task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(
            self._flush_loop(), name=f"telemetry-log-{self.path.parent.name}"
        )

    def offer(self, sample: Telemetry) -> None:
        """A hub listener (on the event loop): keeps the sample for the next write."""
        if self._closed or self.error:
            return
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(encode_line(sample, time.time()))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            await self._flush()

    async def _flush(self) -> None:
        lines, self._pending = self._pending, []
        if not lines or self.error:
            return
        try:
            await asyncio.to_thread(self._write, lines)
        except OSError as exc:
            # A full disk ends the telemetry file, not the video: the error goes into the
            # manifest, and what could not be written is counted.
            self.error = f"cannot write {self.path.name}: {exc.strerror or exc}"
            self.dropped += len(lines)
            log.error("[recording] %s", self.error)
            return
        self.samples += len(lines)

    def _write(self, lines: list[bytes]) -> None:
        assert self._file is not None
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())

    async def close(self) -> None:
        """Stops the task, writes what is pending and closes the file; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await cancel_and_wait(self._task)
        await self._flush()
        if self._file is not None:
            await asyncio.to_thread(self._file.close)


def recover(path: Path) -> int:
    """After a crash: cuts a last line the crash tore (no newline at its end) so that every
    line is whole JSON; returns the number of lines kept (blocking)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return data.count(b"\n", 0, end)
