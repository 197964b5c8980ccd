"""The relay under test: `python -m relay serve` in its own process (scripts/relay_process.py)
with a fuzzing config, and what the campaign watches on it: its log, its RSS, its worker
threads, and the frame rate an aiortc WHEP viewer (scripts/fuzzing/watch.py, another
process) receives."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from scripts import relay_process as base
from scripts.relay_process import ROOT

WATCHED = "watch"  # the stream whose frame rate must hold while the others are fuzzed

# Log entries that mean an exception escaped a handler, a task or a thread.
BAD_LOG = re.compile(
    r"Unhandled exception|exception was never retrieved|Exception in thread|Error handling request"
    r"|Exception in callback| crashed|unhandled error on"
)
# A source that failed is restarted by its supervisor, which logs the traceback at debug
# level: a SourceError (or FFmpeg's own verdict on its input) is a source refusing bad
# input; any other exception is a bug in the relay's parsing path.
SOURCE_TRACEBACK = "source traceback"
EXPECTED_SOURCE_ERROR = re.compile(
    r"^(relay\.errors\.SourceError|av\.error\.\w+|TimeoutError|OSError|ConnectionError)"
)
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _streams_toml(rtmp_port: int, udp_port: int, rtmp_key: str) -> str:
    return f"""
[[streams]]
name = "{WATCHED}"
source = "sim://?size=320x180&fps=30&gop=30"
renditions = ["source"]
shareable_without_privacy = true  # the share routes are fuzzed too

[[streams]]
name = "rtmp"
source = "rtmp://127.0.0.1:{rtmp_port}/live/{rtmp_key}"
renditions = ["240p"]

[[streams]]
name = "udp"
source = "udp://127.0.0.1:{udp_port}"
renditions = ["240p"]

[[streams]]
name = "cam"
source = "whip:"
renditions = ["source"]
"""


# Fuzzing sends more than any person would: only what it fuzzes may refuse it.
LIMITS = dict.fromkeys(
    ("max_viewers_per_stream", "max_viewers")
    + ("login_per_minute", "whep_per_minute", "whip_per_minute"),
    10000,
)


class RelayProcess(base.RelayProcess):
    """A running relay (its folder and debug log kept); start() then close(). Addresses of
    everything a target may hit."""

    def __init__(self) -> None:
        self.rtmp_port = base.free_port()
        self.udp_port = base.free_port(socket.SOCK_DGRAM)
        self.rtmp_key = "fuzz-key"
        super().__init__(
            _streams_toml(self.rtmp_port, self.udp_port, self.rtmp_key),
            publish=["*"],
            limits=LIMITS,
            prefix="relay-fuzz-",
            keep=True,
            log_level="debug",
        )
        self.watcher: subprocess.Popen[bytes] | None = None
        # Viewers of the fuzzed streams' rungs: a rung nobody watches decodes nothing (lazy
        # rungs), and the h264, flv and mpegts targets are meant to reach the decoder.
        self.rung_watchers: list[subprocess.Popen[bytes]] = []
        self.fps_samples: list[tuple[float, int]] = []  # (monotonic, frames)
        self.captures: dict[int, float] = {}  # counter -> capture monotonic
        self._log_offset = 0

    def start(self, timeout: float = 30.0) -> None:
        super().start()
        self.wait_ready(timeout)

    def start_watcher(self, timeout: float = 30.0) -> None:
        """The WHEP viewer of the watched stream, in its own process so that the fuzzer's
        own work cannot slow it down; it prints (monotonic, frames) once a second."""
        self.watcher = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/fuzzing/watch.py"), self.base_url, self.token],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        threading.Thread(target=self._read_watcher, daemon=True, name="fuzz-watch").start()
        self.rung_watchers = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "scripts/fuzzing/watch.py")]
                + [self.base_url, self.token, name],
                stdout=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for name in ("rtmp", "udp")
        ]
        deadline = time.monotonic() + timeout
        while not self.fps_samples or self.fps_samples[-1][1] < 30:
            if self.watcher.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the watching viewer got no pictures")
            time.sleep(0.1)

    def _read_watcher(self) -> None:
        assert self.watcher is not None and self.watcher.stdout is not None
        for line in self.watcher.stdout:
            at, frames, marks = json.loads(line)
            self.fps_samples.append((float(at), int(frames)))
            wall = time.time() - time.monotonic()  # the same clocks: one machine
            for counter, capture_ms in marks:
                self.captures[int(counter)] = capture_ms / 1000 - wall

    def min_fps(self, since: float, until: float, window: float = 2.0) -> float | None:
        """The lowest frame rate over spans of at least `window` seconds (from each sample
        back to the latest one that far behind it) within [since, until]."""
        samples = [(t, n) for t, n in self.fps_samples if since <= t <= until]
        worst: float | None = None
        i = 0
        for t, n in samples:
            while i + 1 < len(samples) and t - samples[i + 1][0] >= window:
                i += 1
            t0, n0 = samples[i]
            if t - t0 >= window:
                fps = (n - n0) / (t - t0)
                worst = fps if worst is None else min(worst, fps)
        return worst

    def min_delivered_fps(self, since: float, until: float, window: float = 2.0) -> float | None:
        """The lowest rate of source frames that reached the viewer, by when they were
        captured: for each `window`-second span of the source within [since, until], the
        frames of it the viewer decoded. A frame lost anywhere lowers it; a frame the busy
        shared machine delayed (and then delivered) does not (see max_delay_ms)."""
        times = sorted(t for t in self.captures.values() if since <= t <= until)
        worst: float | None = None
        start = since
        while start + window <= until:
            n = sum(1 for t in times if start <= t < start + window)
            worst = n / window if worst is None else min(worst, n / window)
            start += window
        return worst

    def fps_windows(self, since: float, until: float, window: float = 2.0) -> list[float]:
        """Frame rates over consecutive spans of about `window` seconds (for the report)."""
        samples = [(t, n) for t, n in self.fps_samples if since <= t <= until]
        out, i = [], 0
        for j in range(1, len(samples)):
            if samples[j][0] - samples[i][0] >= window:
                span = samples[j][0] - samples[i][0]
                out.append(round((samples[j][1] - samples[i][1]) / span, 1))
                i = j
        return out

    def worker_threads(self) -> set[str]:
        """Names of the decoder and encoder threads (the source threads come and go)."""
        names = set()
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                name = (task / "comm").read_text().strip()
            except OSError:
                continue
            if name.startswith(("dec-", "enc-")):
                names.add(name)
        return names

    def new_log_problems(self) -> list[str]:
        """Log lines (with their next lines) that show an escaped exception, since the
        last call."""
        assert self.log_path is not None  # kept: see __init__
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode("utf-8", "replace")
            self._log_offset = f.tell()
        entries: list[list[str]] = []
        for line in text.splitlines():
            if STAMP.match(line) or not entries:
                entries.append([line])
            else:
                entries[-1].append(line)  # a traceback belongs to the entry above it
        problems = []
        for entry in entries:
            head, last = entry[0], entry[-1]
            traced = any(line.startswith("Traceback") for line in entry)
            if (
                BAD_LOG.search(head)
                or (traced and (" ERROR " in head or " WARNING " in head or " CRITICAL " in head))
                or (SOURCE_TRACEBACK in head and not EXPECTED_SOURCE_ERROR.match(last))
            ):
                problems.append("\n".join(entry[:60]))
        return problems

    def close(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> None:
        """The watchers first, then the relay (SIGINT: as an operator's Ctrl-C)."""
        for watcher in [self.watcher, *self.rung_watchers]:
            if watcher is not None and watcher.poll() is None:
                watcher.terminate()
                try:
                    watcher.wait(timeout)
                except subprocess.TimeoutExpired:
                    watcher.kill()
                    watcher.wait()
        super().close(sig, timeout)
