"""The bench's emulated LTE link (scripts/lte): UDP packets through the TUN forwarder come
back delayed by about twice the one-way delay, a share of them lost, and none while the
link is cut. Root only (network namespaces, TUN devices)."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from lte.link import Profile  # noqa: E402
from lte.netns import Tablet  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: network namespaces and TUN devices"
)

# Runs inside the tablet's namespace: sends COUNT numbered datagrams 10 ms apart and prints
# the round trip of each one that came back (ms).
PINGER = """
import json, socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.005)
sent, rtt = {}, []
def drain(until):
    while time.monotonic() < until:
        try:
            i = int(s.recv(64))
        except OSError:
            continue
        rtt.append((time.monotonic() - sent[i]) * 1000)
for i in range(count):
    sent[i] = time.monotonic()
    s.sendto(str(i).encode(), (host, port))
    drain(time.monotonic() + 0.01)
drain(time.monotonic() + 1.0)
print(json.dumps(rtt))
"""


def round_trips(tablet: Tablet, count: int) -> list[float]:
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind((tablet.relay_addr, 0))
    echo.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                data, addr = echo.recvfrom(64)
            except OSError:
                continue
            echo.sendto(data, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        cmd = ["ip", "netns", "exec", tablet.name, sys.executable, "-c", PINGER]
        args = [tablet.relay_addr, str(echo.getsockname()[1]), str(count)]
        out = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rtts: list[float] = json.loads(out.stdout)
        return rtts
    finally:
        done.set()
        thread.join()
        echo.close()


@pytest.fixture
def tablet() -> Any:
    t = Tablet().open()
    try:
        yield t
    finally:
        t.close()


def test_link_adds_delay_and_loss_and_cuts(tablet: Tablet) -> None:
    tablet.shape(None, Profile(delay_ms=50, jitter_ms=10, loss=0.1))
    rtts = round_trips(tablet, 300)
    lost = 1 - len(rtts) / 300  # 10 % each way: about 19 % of round trips
    median = statistics.median(rtts)
    print(f"round trip median {median:.0f} ms, min {min(rtts):.0f} ms, lost {lost:.0%}")
    assert 95 <= median <= 150, median  # 2 x 50 ms, plus jitter kept in order
    assert min(rtts) >= 75  # never less than 2 x (50 - 10) ms, minus scheduling slack
    assert 0.08 <= lost <= 0.32, lost
    counters = tablet.control.snapshot()
    assert counters["down"]["lost"] > 0 and counters["up"]["lost"] > 0

    tablet.control.cut(True)
    assert round_trips(tablet, 50) == []
    assert tablet.control.snapshot()["up"]["cut"] >= 50
