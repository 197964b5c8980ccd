"""WorkerThread on its own: restarts after a crash, backs off in a crash loop, ends quietly."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from relay.supervise import BACKOFF_S, WorkerThread


def test_a_crash_loop_backs_off_and_each_crash_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []
    resets: list[float] = []

    def run() -> None:
        calls.append(time.monotonic())
        raise RuntimeError(f"boom {len(calls)}")

    worker = WorkerThread("s", "transcoder", "test-worker", run, lambda: resets.append(1.0))
    with caplog.at_level(logging.INFO, logger="relay.supervise"):
        worker.start()
        deadline = time.monotonic() + 5
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.stop()
        worker.join(2.0)
    assert not worker.is_alive(), "stop() must end a backoff wait at once"
    assert len(calls) >= 4
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    # Backoff grows: 0.05 s, 0.25 s, 1 s, … (a little later on a loaded machine).
    for gap, wanted in zip(gaps, BACKOFF_S, strict=False):
        assert wanted <= gap < wanted + 0.5, (gaps, BACKOFF_S)
    assert gaps[2] > gaps[1] > gaps[0]
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == worker.restarts, "each crash is logged exactly once"
    assert all(r.exc_info and r.levelno == logging.ERROR for r in crashes)
    assert len(resets) >= 3, "each restart starts from fresh state"
    assert worker.last_error.startswith("RuntimeError: boom")
    assert worker.state == "stopped"


def test_a_loop_that_returns_ends_quietly(caplog: pytest.LogCaptureFixture) -> None:
    done = threading.Event()
    worker = WorkerThread("s", "encoder-360p", "test-worker", done.set)
    with caplog.at_level(logging.DEBUG, logger="relay.supervise"):
        worker.start()
        worker.join(2.0)
    assert done.is_set() and not worker.is_alive()
    assert worker.restarts == 0 and worker.state == "stopped"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
