#!/usr/bin/env python3
"""Thermal processing benchmark: what the palette, isotherm and hotspot marker cost per frame
on the shared path (relay.transcode.processors.thermal). Budget: 2 ms per 640x512 frame.

    .venv/bin/python scripts/bench_thermal.py [--size 640x512] [--frames 200] [--runs 5]

Frames are the sim's scene (terrain and a moving hot spot: a hotspot is found and marked in
each), rendered beforehand; before each timed call a fresh picture is copied into the frame
(not timed), as the decoder hands the transcoder a new picture each time. For each palette
(hotspot on, isotherm off, as configured by default) and for ironbow with an isotherm, each
run's p50 and p95 of the per-frame time; the figures printed are the medians over the runs.
`parts` times the three steps alone (ironbow). It prints one JSON object, with the machine's
load average before and after (the figures are only as quiet as the machine was).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.config.model import PALETTES, ThermalTable  # noqa: E402
from relay.sources.sim_scene import SimScene  # noqa: E402
from relay.transcode.palettes import lut  # noqa: E402
from relay.transcode.processors.osd import planes  # noqa: E402
from relay.transcode.processors.thermal import (  # noqa: E402
    RELATIVE_LABEL,
    ThermalControl,
    ThermalProcessor,
    draw_marker,
    find_hotspot,
    paint,
)

BUDGET_MS = 2.0


def pictures(width: int, height: int, count: int = 30) -> list[av.VideoFrame]:
    scene = SimScene(width, height, 30)
    return [scene.render(i * 7).reformat(format="yuv420p") for i in range(count)]


def timed(
    sources: list[av.VideoFrame], frames: int, step: Callable[[av.VideoFrame], None]
) -> dict[str, float]:
    """p50/p95 in ms of `step` on `frames` fresh pictures."""
    work = av.VideoFrame(sources[0].width, sources[0].height, "yuv420p")
    times = []
    for i in range(frames):
        for target, source in zip(planes(work), planes(sources[i % len(sources)]), strict=True):
            target[:] = source
        t0 = time.perf_counter()
        step(work)
        times.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(times, n=20)
    return {"p50_ms": statistics.median(times), "p95_ms": q[18]}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


def processor(palette: str, isotherm: int | None = None) -> Callable[[av.VideoFrame], None]:
    control = ThermalControl("bench", ThermalTable(palette=palette, isotherm=isotherm), {})
    proc = ThermalProcessor(control)
    return lambda frame: proc.process(frame, True)


def parts() -> dict[str, Callable[[av.VideoFrame], None]]:
    table = lut("ironbow", None)

    def paint_only(frame: av.VideoFrame) -> None:
        paint(*planes(frame), table)

    def find_only(frame: av.VideoFrame) -> None:
        find_hotspot(planes(frame)[0])

    def marker_only(frame: av.VideoFrame) -> None:
        y, u, v = planes(frame)
        draw_marker(y, u, v, (frame.width // 2, frame.height // 2), RELATIVE_LABEL)

    return {"paint": paint_only, "find_hotspot": find_only, "marker": marker_only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="640x512")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    sources = pictures(width, height)
    result: dict[str, Any] = {
        "load_before": os.getloadavg(),
        "settings": vars(args),
        "budget_ms": BUDGET_MS,
    }
    cases: dict[str, Callable[[av.VideoFrame], None]] = {p: processor(p) for p in PALETTES}
    cases["ironbow+isotherm"] = processor("ironbow", 200)
    result["palettes"] = {
        name: median_of([timed(sources, args.frames, step) for _ in range(args.runs)])
        for name, step in cases.items()
    }
    result["parts"] = {
        name: median_of([timed(sources, args.frames, step) for _ in range(args.runs)])
        for name, step in parts().items()
    }
    worst = max(case["p95_ms"] for case in result["palettes"].values())
    result["within_budget"] = worst <= BUDGET_MS
    result["load_after"] = os.getloadavg()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
