"""WorkerThread: runs a worker's loop in a thread of its own and restarts it when it crashes.

The transcoder and every rung encoder run one. A loop that returns has ended as expected
(closed) and the thread ends quietly. A loop that raises has hit a bug or a broken input no
narrow handler knew: the crash is logged once with its traceback, counted, shown in the
stream's status and /metrics, and the loop runs again after a short backoff with fresh
state (the worker's `reset`), so viewers get pictures again instead of a frozen last frame
under a stream that still says `live`. Crashing again and again backs off up to 5 s, so a
crash loop cannot eat a core or flood the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from relay.threads import lower_priority, name_native_thread

log = logging.getLogger(__name__)

BACKOFF_S = (0.05, 0.25, 1.0, 2.0, 5.0)  # the first restart well within a second
HEALTHY_AFTER_S = 10.0  # a loop that ran this long starts its backoff afresh


class WorkerThread:
    """One supervised worker loop of a stream: `run` until it returns or stop() is called."""

    def __init__(
        self,
        stream: str,
        worker: str,
        thread_name: str,
        run: Callable[[], None],
        reset: Callable[[], None] | None = None,
        nice: int = 0,
    ) -> None:
        self.stream, self.worker = stream, worker
        self.nice = nice  # steps nicer than the main thread (relay.threads.lower_priority)
        self.run, self.reset = run, reset
        self.state = "idle"  # idle | running | restarting | stopped
        self.restarts = 0
        self.last_error = ""
        self.last_crash_at: float | None = None  # monotonic s
        self.last_restart_at: float | None = None  # monotonic s: the loop ran again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, daemon=True, name=thread_name)

    def start(self) -> None:
        self.state = "running"
        self._thread.start()

    def stop(self) -> None:
        """Ends a backoff wait at once; the worker ends its loop by its own means."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }

    def _supervise(self) -> None:
        name_native_thread()
        lower_priority(self.nice)
        attempt = 0
        crashed = False
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                if crashed:
                    if self.reset is not None:
                        self.reset()  # fresh decoder/encoder state: the old one may be broken
                    self.state = "running"
                    self.last_restart_at = time.monotonic()
                    log.info("[stream %s] %s restarted", self.stream, self.worker)
                self.run()
                break  # an expected ending: closed
            except Exception as exc:  # anything unexpected gets a restart
                if self._stop.is_set():
                    log.debug("[stream %s] %s failed while closing", self.stream, self.worker)
                    break
                crashed = True
                if time.monotonic() - began > HEALTHY_AFTER_S:
                    attempt = 0
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                attempt += 1
                self.state = "restarting"
                self.restarts += 1
                self.last_crash_at = time.monotonic()
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.exception(
                    "[stream %s] %s crashed (restart %d in %.2f s)",
                    self.stream,
                    self.worker,
                    self.restarts,
                    delay,
                )
            self._stop.wait(delay)
        self.state = "stopped"
