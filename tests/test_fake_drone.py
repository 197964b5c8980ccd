"""scripts/fake_drone.py pushes MPEG-TS over UDP that decodes, with the frame marks intact."""

from __future__ import annotations

import errno
import itertools
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import av.error
import numpy as np

from relay.media.frame_marks import read_marks

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fake_drone.py"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_bound(port: int, timeout: float = 5.0) -> None:
    """Waits until someone (the PyAV receiver) holds 127.0.0.1:port, so no datagram is lost."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return
                raise
        time.sleep(0.02)
    raise AssertionError(f"receiver did not bind udp port {port}")


def _receive(port: int, marks: list[tuple[int, int, int]], errors: list[BaseException]) -> None:
    """Decodes the TS until the sender falls silent; appends (counter, capture ms, now ms)."""
    url = f"udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=50000"
    try:
        with av.open(
            url,
            format="mpegts",
            timeout=(10.0, 2.0),
            options={"analyzeduration": "1000000", "probesize": "1000000"},
        ) as c:
            for frame in c.decode(video=0):
                read = read_marks(np.asarray(frame.to_ndarray(format="gray"), np.uint8))
                if read is not None:
                    marks.append((*read, time.time_ns() // 1_000_000))
    except av.error.FFmpegError:
        pass  # the read timeout after the sender stopped: the normal end
    except BaseException as exc:  # pragma: no cover - reported by the test
        errors.append(exc)


def test_udp_push_decodes_and_counter_advances() -> None:
    port = _free_udp_port()
    marks: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []
    receiver = threading.Thread(target=_receive, args=(port, marks, errors), daemon=True)
    receiver.start()
    _wait_until_bound(port)

    started = time.monotonic()
    sender = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            f"udp://127.0.0.1:{port}",
            "--size",
            "640x360",
            "--fps",
            "30",
            "--gop",
            "15",
            "--seconds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    receiver.join(timeout=15)

    assert sender.returncode == 0, sender.stderr
    assert "pushing" in sender.stderr  # the start line names what goes where
    assert not receiver.is_alive() and not errors, errors
    assert elapsed >= 1.9  # paced at real time, not pushed as fast as possible
    counters = [counter for counter, _, _ in marks]
    assert len(counters) >= 40, f"only {len(counters)} frames with marks of 60"
    assert all(b > a for a, b in itertools.pairwise(counters)), counters
    assert counters[-1] - counters[0] >= 40
    assert counters[-1] <= 59
    # Capture times are the sender's wall clock. (The last frames wait in the TS demuxer for
    # the read timeout, as a PES ends only where the next begins, so look at the median.)
    delays = sorted(now - captured for _, captured, now in marks)
    assert 0 <= delays[len(delays) // 2] < 1000, delays
