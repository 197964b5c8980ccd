#!/usr/bin/env python3
"""Fuzzes a real relay with seeded, structure-aware mutations and prints one JSON object.

    .venv/bin/python scripts/fuzz.py --target rtmp-chunks --cases 10000 --seed 1
    .venv/bin/python scripts/fuzz.py --target all --cases 300 --seed 1
    .venv/bin/python scripts/fuzz.py --target json --seed 1 --start 4711 --cases 1   # replay

It starts `python -m relay serve` with streams for every target (sim `watch`, rtmp, udp,
whip), an aiortc WHEP viewer on `watch` in another process, then runs the cases. Targets:
rtmp-handshake, rtmp-chunks, rtmp-amf0, flv, mpegts, h264 (Annex B into the decoder),
whep-sdp, whip-sdp, json (every JSON body route of the route table), query (every GET
route's path and query), config (the config loader and `serve --config`).

Pass, per target: no 5xx, no escaped exception or dead worker thread in the relay's log,
RSS growth <= 150 MB, the watched stream >= 29 fps in every 2 s window. Failures already
filed elsewhere are listed under `known` and do not fail the run. Exit status 0 when every
target passed, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.fuzzing import media  # noqa: E402  (after the path is set)
from scripts.fuzzing.campaign import run_target  # noqa: E402
from scripts.fuzzing.relay_proc import RelayProcess  # noqa: E402
from scripts.fuzzing.targets import TARGETS  # noqa: E402


async def campaign(names: list[str], cases: int, seed: int, start: int) -> dict[str, object]:
    relay = RelayProcess()
    began = time.monotonic()
    await asyncio.to_thread(media.seed_units)  # encoded now, not while the viewer watches
    try:
        await asyncio.to_thread(relay.start)
        await asyncio.to_thread(relay.start_watcher)
        # The relay and its viewer run at normal priority, the attacker below them: on a
        # small machine the fuzzer's own CPU must not be what slows the watched stream.
        os.nice(5)
        reports = []
        for name in names:
            report = await run_target(relay, TARGETS[name](), cases, seed, start)
            reports.append(report.as_dict())
            print(
                f"{name}: {report.cases} cases in {report.seconds} s, passed={report.passed}",
                file=sys.stderr,
            )
    finally:
        relay.close()
    return {
        "seed": seed,
        "cases": sum(int(r["cases"]) for r in reports),  # type: ignore[call-overload]
        "seconds": round(time.monotonic() - began, 1),
        "passed": all(r["passed"] for r in reports),
        "failures": [f for r in reports for f in r["failures"]],  # type: ignore[attr-defined]
        "targets": reports,
        "relay_log": str(relay.log_path),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="a target's name, a comma list, or all")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="first case index (to replay)")
    args = parser.parse_args(argv)
    names = list(TARGETS) if args.target == "all" else args.target.split(",")
    unknown = [n for n in names if n not in TARGETS]
    if unknown or args.cases < 1 or args.start < 0:
        print(
            f"fuzz.py: unknown target {', '.join(unknown)} (known: {', '.join(TARGETS)})"
            if unknown
            else "fuzz.py: --cases must be >= 1 and --start >= 0",
            file=sys.stderr,
        )
        return 2
    result = asyncio.run(campaign(names, args.cases, args.seed, args.start))
    print(json.dumps(result, indent=1))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
