#!/usr/bin/env python3
"""Source flaps: the drone's RTMP link drops and returns --cycles times (default 100) while
viewers watch and an incident records.

    .venv/bin/python scripts/flaps.py [--cycles 100] [--viewers 2] [--report flaps.json]

It starts a relay (its own process, one RTMP stream with a 360p rung), pushes with
scripts/fake_drone.py, connects --viewers decoding WHEP viewers and starts an incident. Each
cycle kills the pusher (a dropped link), waits until the relay says the stream is down, 1–2 s
more, and pushes again; it stays up 2–4 s. Per return it records whether the stream said
live again (within 15 s) and, per viewer, the time from the new push's first captured frame
to that viewer decoding live frames again (tests/flapping.py explains how). Then it stops
the incident and runs `drone-relay verify` on its folder.

Pass (issue 10): every return live, every viewer live again, p95 of the return times
≤ 1 s, one gap per drop in the manifest, verify exit 0. Prints one JSON object; exit status
0 on pass, 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.soak import RtmpRelay  # noqa: E402  (after the path is set)
from tests.flapping import flap  # noqa: E402

STREAM = "fritz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--report", type=Path, default=Path("flaps-report.json"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--relay-log", type=Path, default=None, help="keep the relay's log here")
    args = parser.parse_args()
    if args.cycles < 1 or args.viewers < 1:
        parser.error("--cycles and --viewers must be at least 1")
    relay = RtmpRelay(["360p"], None, stream=STREAM, log_file=args.relay_log)
    started = time.monotonic()
    try:
        relay.wait_up()
        report = asyncio.run(
            flap(
                relay.base_url,
                relay.token,
                STREAM,
                relay.push_url,
                relay.recordings,
                cycles=args.cycles,
                viewers=args.viewers,
                seed=args.seed,
            )
        )
    finally:
        relay.close()
    summary = report.summary()
    p95 = summary["return_ms_p95"]
    checks = {
        "all_back_live": report.back_live == report.cycles,
        "viewers_all_back": report.missed == 0,
        "return_p95_le_1s": p95 is not None and p95 <= 1000,
        "one_gap_per_drop": summary["gaps_in_manifest"] == report.cycles,
        "verify_ok": report.verify_status == 0,
    }
    result = {
        **summary,
        "seconds": round(time.monotonic() - started, 1),
        "checks": checks,
        "pass": all(checks.values()),
    }
    full = {**result, "return_ms": report.return_ms, "manifest": report.manifest}
    full["verify_output"] = report.verify_output
    args.report.write_text(json.dumps(full, indent=1) + "\n")
    print(json.dumps(result), flush=True)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
