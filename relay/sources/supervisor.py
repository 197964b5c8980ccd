"""Keeps one Source running: restarts it with backoff when it fails or ends, and says why."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections.abc import Callable

from relay.media.access_unit import AccessUnit
from relay.sources.base import SourceFactory
from relay.sources.redact import redact_text, secrets_of
from relay.sources.registry import open_source
from relay.tasks import cancel_and_wait
from relay.threads import name_native_thread

log = logging.getLogger(__name__)

BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 5.0)
HEALTHY_AFTER_S = 10.0  # a source that ran this long starts its backoff afresh


class SourceSupervisor:
    """Runs a stream's source in its own thread, forever, until aclose()."""

    def __init__(
        self,
        stream: str,
        url: str,
        on_unit: Callable[[AccessUnit], None],
        on_down: Callable[[str], None],
        source_factory: SourceFactory = open_source,
    ) -> None:
        self.stream, self.url = stream, url
        self.source_factory = source_factory  # makes a fresh Source for each run
        self.on_unit = on_unit  # called in the source's thread
        self.on_down = on_down  # called in the source's thread when a run ends
        self.restarts = 0
        self.last_error = ""  # shown to every viewer of the stream: redacted
        self._secrets = secrets_of(url)
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            began = time.monotonic()
            done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            thread = threading.Thread(
                target=self._run_once, args=(done,), daemon=True, name=f"src-{self.stream}"
            )
            self._thread = thread
            thread.start()
            error = await done  # its text is already redacted (_run_once)
            if self._stop.is_set():
                return
            self.restarts += 1
            if time.monotonic() - began > HEALTHY_AFTER_S:
                attempt = 0
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)] if error else 0.0
            self.last_error = error or ""
            if error:
                log.warning(
                    "[stream %s] source failed: %s; retrying in %.1f s", self.stream, error, delay
                )
                attempt += 1
            else:
                log.info("[stream %s] source ended; restarting", self.stream)
            await asyncio.sleep(delay)  # aclose() cancels this wait

    def _run_once(self, done: asyncio.Future[str | None]) -> None:
        name_native_thread()
        loop = done.get_loop()
        error: str | None = None
        try:
            self.source_factory(self.url).run(self.on_unit, self._stop)
        except Exception as exc:  # every failure of a source is reported, none is fatal
            # Any library's error may quote the URL with its password: only the redacted
            # text goes on (status, log, the recording's gap marks).
            error = redact_text(str(exc), self._secrets) or type(exc).__name__
            log.debug(
                "[stream %s] source failed (%s) at:\n%s",
                self.stream,
                type(exc).__name__,
                redact_text("".join(traceback.format_tb(exc.__traceback__)), self._secrets),
            )
        finally:
            self.on_down(error or "ended")
            if not loop.is_closed():
                loop.call_soon_threadsafe(_set_result, done, error)

    async def aclose(self) -> None:
        """Stops the source and waits for its thread (a listener notices within ~2 s);
        safe to call twice."""
        self._stop.set()
        await cancel_and_wait(self._task)
        self._task = None
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
            if self._thread.is_alive():
                log.warning("[stream %s] source thread did not stop in time", self.stream)
            self._thread = None


def _set_result(fut: asyncio.Future[str | None], error: str | None) -> None:
    if not fut.done():
        fut.set_result(error)
