"""A crashed transcoder or rung encoder restarts: logged once, counted, viewers see frames again.

The crash is a real exception raised inside the worker's thread, through the seams the
worker already has: an extra processor in the transcoder, the encoder's keyframe callback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import av
import pytest

from tests.conftest import RelayFactory, wait_for

SIM = {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=30", "renditions": ["360p"]}


class CrashOnce:
    """Raises once inside the worker's thread when armed."""

    def __init__(self) -> None:
        self.armed = threading.Event()

    def fire(self) -> None:
        if self.armed.is_set():
            self.armed.clear()
            raise RuntimeError("injected crash")

    # As a transcoder processor.
    def process(self, frame: av.VideoFrame, live: bool) -> None:
        self.fire()

    # As an encoder's want_keyframe.
    def wrap(self, inner: Callable[[], bool]) -> Callable[[], bool]:
        def want_keyframe() -> bool:
            self.fire()
            return inner()

        return want_keyframe


@pytest.mark.parametrize("worker_name", ["transcoder", "encoder-360p"])
async def test_crashed_worker_restarts_and_viewers_get_frames_again(
    start_relay: RelayFactory, caplog: pytest.LogCaptureFixture, worker_name: str
) -> None:
    relay = await start_relay([SIM])
    stream = relay.relay.streams["demo"]
    assert stream.transcoder is not None
    worker: Any = next(w for w in stream.workers() if w.worker == worker_name)
    crash = CrashOnce()
    if worker_name == "transcoder":
        stream.transcoder.processors.append(crash)  # type: ignore[arg-type]
    else:
        encoder = stream.transcoder.encoders[0]
        encoder.want_keyframe = crash.wrap(encoder.want_keyframe)
    viewer = relay.viewer("demo")
    await viewer.start()
    try:
        # Live pictures first (the slate before the sim starts carries no marks).
        await wait_for(lambda: len(viewer.received.counters) >= 15, 20, "live frames")
        with caplog.at_level(logging.INFO, logger="relay.supervise"):
            crash.armed.set()
            await wait_for(lambda: worker.restarts == 1, 5, "the crash")
            await wait_for(lambda: worker.state == "running", 2, "the restart")
            assert worker.last_restart_at - worker.last_crash_at < 1.0
            # Frames again, and live ones: the burned-in counter moves on after the crash.
            seen = viewer.received.frames
            counter = viewer.received.counters[-1]
            await viewer.wait_frames(seen + 30, timeout=10)
            assert viewer.received.counters[-1] > counter + 20
        crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
        assert len(crashes) == 1 and crashes[0].exc_info, "logged once, with its traceback"
        assert "injected crash" in str(crashes[0].exc_info[1])
        # The viewer kept its session.
        assert list(relay.relay.sessions.sessions) == [str(viewer.location).rsplit("/", 1)[1]]
        async with relay.http() as http:
            async with http.get(relay.base_url + "/metrics") as resp:
                metrics = await resp.text()
        status = await relay.stream_status("demo")
        assert status["workers"][worker_name] == {
            "state": "running",
            "restarts": 1,
            "last_error": "RuntimeError: injected crash",
        }
        assert status["worker_restarts"] == 1 and status["degraded"] is False
        line = f'relay_worker_restarts_total{{stream="demo",worker="{worker_name}"}} 1.0'
        assert line in metrics.splitlines()
    finally:
        await viewer.close()
