"""SIGKILL in the middle of a recording: at restart the open segment is recovered, and the
killed relay left no worker process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.recording.api import decode_counters, verify_cli

CONFIG = """
[server]
data_dir = "data"
[[auth.tokens]]
name = "leitstelle"
token = "crash-test-operator-token-0123456789"
role = "operator"
streams = ["*"]
publish = ["*"]
[recording]
dir = "rec"
[[streams]]
name = "demo"
source = "sim://?size=640x360&fps=30&gop=30"
renditions = ["360p"]
telemetry = "push"
"""


TOKEN = "crash-test-operator-token-0123456789"


def http(port: int, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        data = resp.read()
        return json.loads(data) if data else None  # 204: no body


def _children(pid: int) -> list[str]:
    return [
        c for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()
    ]


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@contextmanager
def serve(tmp_path: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay", "serve", "--config", "relay.toml", "--port", str(port)],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: http(port, "GET", "/api/streams/demo")["state"] == "live",
            30,
            "a live demo stream",
        )
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=20)


def test_sigkill_8s_into_recording_recovers_at_restart(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text(CONFIG)
    port = free_port()
    with serve(tmp_path, port) as proc:
        started = time.monotonic()
        incident = http(port, "POST", "/api/incidents", {"title": "Crash", "streams": ["demo"]})
        for alt in (80.5, 81.0, 81.5):
            http(port, "POST", "/api/streams/demo/telemetry", {"lat": 48.1, "alt_rel_m": alt})
        wait_until(lambda: time.monotonic() - started >= 8.0, 10, "8 s of recording")
        # The export worker process (started with the incident) and its helpers.
        children = wait_until(lambda: _children(proc.pid), 10, "the export worker process")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # A relay killed outright leaves no process behind.
    wait_until(lambda: not any(Path(f"/proc/{c}").exists() for c in children), 10, "no orphan")
    folder = tmp_path / "rec" / incident["id"]
    before = json.loads((folder / "manifest.json").read_text())
    assert before["status"] == "recording"
    assert any(s["open"] for s in before["recordings"]["demo"]["segments"])
    telemetry = folder / before["recordings"]["demo"]["telemetry"]["file"]
    with open(telemetry, "ab") as f:  # what a kill in the middle of a write leaves
        f.write(b'{"time":1790000000.0,"source":"push","lat":48.1')
    with serve(tmp_path, port):
        detail = http(port, "GET", f"/api/incidents/{incident['id']}")
    assert detail["status"] == "interrupted"
    segments = detail["recordings"][0]["segments"]
    assert segments[-1]["recovered"] is True and not any(s["open"] for s in segments)
    counters: list[int] = []
    for seg in segments:
        counters += decode_counters(folder / seg["file"])
    played = len(counters) / 30
    print(f"after SIGKILL at 8 s: {played:.2f} s recovered in {len(segments)} segments")
    assert played >= 6.0
    assert counters == list(range(counters[0], counters[0] + len(counters)))
    assert sum(s["frames"] for s in segments) == len(counters)
    # The telemetry file: the torn line cut, the three samples kept and hashed.
    recorded = json.loads((folder / "manifest.json").read_text())["recordings"]["demo"]
    assert recorded["telemetry"]["samples"] == 3 and recorded["telemetry"]["recovered"], recorded
    lines = [json.loads(x) for x in telemetry.read_text().splitlines()]
    assert [x["alt_rel_m"] for x in lines] == [80.5, 81.0, 81.5]
    result = verify_cli(folder)
    assert result.returncode == 0, result.stdout
    audit = [
        json.loads(line) for line in (tmp_path / "data" / "audit.jsonl").read_text().splitlines()
    ]
    recovered = [e for e in audit if e["event"] == "incident_recovered"]
    assert recovered and recovered[0]["incident"] == incident["id"]
