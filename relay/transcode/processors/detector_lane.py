"""One detector of the privacy stage in a thread of its own, one frame at a time.

The stage starts every lane on a frame, then waits for each until the frame's deadline, so
two detectors (faces, people) run side by side on two cores and a slow one costs the rung
its budget per frame at most. A lane answers boxes, or why it has none (late, busy,
unavailable, failed, not yet covering a new picture): the stage then fails closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from relay.metrics import Histogram
from relay.threads import name_native_thread
from relay.transcode.processors.faces import Box, Detector, DetectorUnavailable
from relay.transcode.processors.new_pictures import NotCovered
from relay.transcode.processors.privacy_masks import Plane


class DetectorLane:
    """A detector made lazily in its thread (loading a model takes a while), timed per frame."""

    def __init__(self, what: str, thread_name: str, factory: Callable[[], Detector]) -> None:
        self.what = what  # "face", "people": for the reasons the stage reports
        self.thread_name = thread_name
        self.factory = factory
        self.found = 0
        self.detect_ms = Histogram()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[list[Box]] | None = None
        self._detector: Detector | None = None
        self._unavailable: DetectorUnavailable | None = None

    def start(self, y: Plane) -> str:
        """Starts the detector on `y` (read only until done); "" or why it cannot."""
        if self._pending is not None and not self._pending.done():
            return f"{self.what} detector busy (still on an earlier frame)"
        if self._executor is None:
            # Named for `top -H` too: a busy detector shows as its rung's and stream's.
            self._executor = ThreadPoolExecutor(1, self.thread_name, initializer=name_native_thread)
        self._pending = self._executor.submit(self._detect, y)
        return ""

    def boxes(self, deadline: float, budget_ms: float) -> list[Box] | str:
        """The boxes of the frame started last, waiting until `deadline` (perf_counter, the
        end of the frame's `budget_ms`)."""
        assert self._pending is not None, "start() first"
        try:
            found = self._pending.result(timeout=max(0.0, deadline - time.perf_counter()))
        except TimeoutError:
            return f"{self.what} detector late (over {budget_ms:g} ms)"
        except DetectorUnavailable as exc:
            return f"{self.what} detector unavailable: {exc}"
        except NotCovered:
            return f"{self.what} detector: a new picture, not every pass has looked at it yet"
        except Exception as exc:
            return f"{self.what} detector failed: {exc!r}"
        self.found += len(found)
        return found

    def _detect(self, y: Plane) -> list[Box]:
        """In the lane's thread."""
        if self._unavailable is not None:
            raise self._unavailable
        if self._detector is None:
            try:
                self._detector = self.factory()
            except DetectorUnavailable as exc:
                self._unavailable = exc
                raise
        t0 = time.perf_counter()
        found = self._detector.detect(y)
        self.detect_ms.observe((time.perf_counter() - t0) * 1000)
        return found

    def close(self) -> None:
        """Lets the thread go; safe to call twice."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
