"""ExportWorker: clip exports and snapshot pictures in a worker process, off the relay's GIL.

Why a process and not a thread: cutting a clip demuxes and muxes it packet by packet, and a
snapshot decodes a GOP and converts a picture, and both are Python work that holds the GIL
between the FFmpeg calls. In a thread of the relay they took the GIL from the event loop
every few milliseconds: back-to-back clip exports raised the loop's lag p99 from 19 to 73 ms
with 50 viewers (README "Disk work"). A worker process has its own interpreter and runs at
the lowest CPU priority, so the loop and the live encoders come first on a busy machine.

The process is spawned, never forked: the relay runs encoder, aiortc and recorder threads,
and a fork would copy their locks in whatever state they are. It starts with the first job
(once, about half a second) and stays for the next ones. Jobs wait in a bounded queue: when
`MAX_JOBS` are running or waiting, the next one is refused with 503 and a JSON reason.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from relay.recording.errors import IncidentError

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKERS = 1  # one export at a time: the relay's own work needs the other core
MAX_JOBS = 4  # running and waiting; more are refused (503)
# The worker should take only CPU the relay leaves idle: at nice 5 it still took a core
# from the event loop often enough to lag it more than the old export thread did (README
# "Disk work"). A relay that keeps every core busy makes exports slow (503 once 4 wait),
# never its viewers late.
NICE = 19


def _start_worker() -> None:
    """In the new worker process: a lower priority, and the jobs' libraries imported now
    (PyAV, OpenCV: half a second) rather than in its first job."""
    try:
        os.nice(NICE)
    except OSError:  # not allowed here: the worker runs at the relay's priority
        pass
    importlib.import_module("relay.recording.clip")
    importlib.import_module("relay.recording.snapshot")
    threading.Thread(target=_end_with_parent, name="parent-watch", daemon=True).start()


def _end_with_parent() -> None:
    """In the worker: ends it when the relay is gone. A relay killed outright (SIGKILL, out
    of memory) never shuts its pool down, and the worker, blocked on its job queue (whose
    pipe it holds both ends of), would otherwise stay forever."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)


class ExportWorker:
    """A lazily started worker process pool with a bounded job count; thread-safe."""

    def __init__(self, workers: int = WORKERS, max_jobs: int = MAX_JOBS) -> None:
        self.workers = workers
        self.max_jobs = max_jobs
        self.refused = 0
        self._lock = threading.Lock()
        self._jobs = 0
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )

    @property
    def jobs(self) -> int:
        """Jobs running or waiting now."""
        return self._jobs

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the worker process; waits for its result (blocking: call from a
        thread). `fn` and its arguments travel by pickle: a module-level function, plain data.
        Raises IncidentError(503) when the queue is full or the worker process died."""
        with self._lock:
            if self._jobs >= self.max_jobs:
                self.refused += 1
                raise IncidentError(
                    503,
                    "exports_busy",
                    f"{self._jobs} exports are running or waiting already; try again shortly",
                )
            self._jobs += 1
            if self._pool is None:
                self._pool = self._new_pool()
            pool = self._pool
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            # Killed (out of memory, by hand): the next job starts a new worker process.
            log.error("[export] the export worker process died; starting a new one next time")
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise IncidentError(
                503, "export_worker_died", "the export worker ended unexpectedly; try again"
            ) from None
        except CancelledError:  # close() while it waited: the relay is stopping
            raise IncidentError(503, "relay_stopping", "the relay is stopping") from None
        finally:
            with self._lock:
                self._jobs -= 1

    def warm(self) -> None:
        """Starts the worker process now (without waiting), so that the first clip or
        snapshot does not wait for it to start and import its libraries."""
        with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
            try:
                self._pool.submit(os.getpid)
            except BrokenProcessPool:  # it died: the next job starts a new one
                self._pool.shutdown(wait=False)
                self._pool = None

    def close(self) -> None:
        """Ends the worker process after its running job (blocking); waiting jobs are
        cancelled. The next run() starts a new one."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# The relay's one worker: clip exports and snapshots of every incident share it.
WORKER = ExportWorker()
