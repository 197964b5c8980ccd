"""The seeded smoke run of the fuzzer: 300 cases of every target against one real relay,
through the command itself (`scripts/fuzz.py --target all`). Each target passes when the
relay answered no 5xx, logged no escaped exception, lost no worker thread, kept its RSS
bounded and the watched stream at >= 29 fps (scripts/fuzzing/campaign.py judges; the frame
rate is judged when the stream made it while idle just before, so that a shared machine
that is overloaded anyway is not blamed on the relay)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.fuzzing.campaign import MIN_FPS, RSS_GROWTH_MB
from scripts.fuzzing.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
CASES = 300
SEED = 1
# Found by this run, not fixed here: ten offers a second (the default per-address WHEP
# limit) cost the watched stream frames on the loaded 2-core test machine (22-27.5 fps
# against 30 idle; at a light load whep-sdp kept 29.5, whip-sdp 28.0): every offer builds
# an aiortc peer (certificate, ICE sockets) in the relay's process.
SLOW_OFFERS = {"whep-sdp", "whip-sdp"}


@pytest.fixture(scope="module")
def campaign() -> dict[str, Any]:
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/fuzz.py"),
            "--target",
            "all",
            "--cases",
            str(CASES),
            "--seed",
            str(SEED),
        ],
        capture_output=True,
        timeout=900,
        cwd=ROOT,
    )
    assert run.returncode in (0, 1), run.stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(run.stdout)
    return result


@pytest.mark.parametrize("name", list(TARGETS))
def test_target_survives(campaign: dict[str, Any], name: str) -> None:
    report = next((t for t in campaign["targets"] if t["target"] == name), None)
    assert report is not None, f"{name} did not run"
    assert report["cases"] == CASES
    assert report["relay_alive"], "the relay died"
    assert not report["failures"], json.dumps(report["failures"][:3], indent=1)
    assert not report["threads_lost"], f"worker threads gone: {report['threads_lost']}"
    assert report["rss_max_mb"] - report["rss_before_mb"] <= RSS_GROWTH_MB
    fps_ok = report["min_fps"] is not None and report["min_fps"] >= MIN_FPS
    why = (
        f"the watched stream fell to {report['min_fps']} fps "
        f"(idle before: {report['baseline_fps']}; by arrival: {report['fps_windows']})"
    )
    if report["fps_judged"] and not fps_ok and name in SLOW_OFFERS:
        pytest.xfail(f"known: offers are costly on the event loop: {why}")
    if report["fps_judged"]:  # the idle baseline made the mark: the relay is measured
        assert fps_ok, why
    # The 5xx and log tracebacks once filed under issue 10 item 8 are fixed: a case that
    # brings one back fails here like any other.
    assert not report["known_count"], report["known"][0]["detail"][:300]


def test_cli_refuses_bad_arguments() -> None:
    for args in (["--target", "nosuch"], ["--target", "json", "--cases", "0"]):
        run = subprocess.run(
            [sys.executable, str(ROOT / "scripts/fuzz.py"), *args],
            capture_output=True,
            timeout=60,
        )
        assert run.returncode == 2
        assert b"fuzz.py:" in run.stderr and b"Traceback" not in run.stderr
