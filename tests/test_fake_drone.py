"""scripts/fake_drone.py pushes MPEG-TS over UDP that decodes, with the frame marks intact."""

from __future__ import annotations

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
from tests.conftest import free_port
from tests.udp_bind import wait_until_bound

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fake_drone.py"


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


def _listening() -> tuple[int, list[tuple[int, int, int]], list[BaseException], threading.Thread]:
    """A receiver decoding MPEG-TS on a free UDP port, bound before it returns."""
    port = free_port(socket.SOCK_DGRAM)
    marks: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []
    receiver = threading.Thread(target=_receive, args=(port, marks, errors), daemon=True)
    receiver.start()
    wait_until_bound(port, holder=receiver)
    return port, marks, errors, receiver


def test_udp_push_decodes_and_counter_advances() -> None:
    port, marks, errors, receiver = _listening()

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


def test_clip_rendered_ahead_is_pushed_at_its_capture_times(tmp_path: Path) -> None:
    """fake_drone --at renders a clip whose marks carry the times clip_push sends it at: a
    viewer measures a true delay (not the rendering's time) from a drone that costs no
    encoder; a clip with nothing left to start from is refused with exit 2."""
    clip = tmp_path / "clip.ts"
    at = time.time() + 12.0  # rendering 3 s of 640x360 takes a few seconds, loaded
    options = ["--size", "640x360", "--gop", "30", "--seconds", "3"]
    render = [sys.executable, str(SCRIPT), str(clip), "--at", repr(at), *options]
    rendered = subprocess.run(render, capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    assert time.time() < at, "rendering took longer than the test allows"

    port, marks, errors, receiver = _listening()
    push = [sys.executable, str(SCRIPT.parent / "clip_push.py"), str(clip)]
    pushed = subprocess.run(
        [*push, f"udp://127.0.0.1:{port}", "--at", repr(at)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    receiver.join(timeout=15)
    assert pushed.returncode == 0, pushed.stderr
    assert not errors, errors
    counters = [counter for counter, _, _ in marks]
    assert len(counters) >= 60 and counters[0] == 0, counters
    assert all(b == a + 1 for a, b in itertools.pairwise(counters)), counters
    # Frame n carries at + n/30 and leaves then: the median delay is the loopback's and the
    # decoder's, not the ~10 s between rendering and pushing (or minus that if it burst).
    assert all(captured == round((at + n / 30) * 1000) for n, captured, _ in marks)
    delays = sorted(now - captured for _, captured, now in marks)
    assert 0 <= delays[len(delays) // 2] < 500, delays

    late = subprocess.run(
        [*push, f"udp://127.0.0.1:{port}", "--at", repr(at), "--from", "2.5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert late.returncode == 2 and "no keyframe left" in late.stderr, late.stderr
