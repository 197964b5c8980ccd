"""CPU seconds of processes and process trees from /proc, for the benchmarks (a relay's
outputs run in child processes: relay.outputs.pusher)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from relay.threads import cpu_seconds_by_thread  # noqa: E402  (after the path is set)


def tree_pids(pid: int) -> list[int]:
    """The process and its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def relay_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a relay's process tree ("total"), of its simulated drone's threads
    ("sim": src-*, relay.threads) and of its child processes ("children": the outputs)."""
    total = src = children = 0.0
    for p in tree_pids(pid):
        try:
            by_thread = cpu_seconds_by_thread(p)
        except OSError:
            continue  # a child that just ended
        seconds = by_thread.pop("total")
        total += seconds
        children += seconds if p != pid else 0.0
        src += sum(s for name, s in by_thread.items() if name.startswith("src-"))
    return {"total": total, "sim": src, "children": children}


def cpu_s(pids: list[int]) -> float:
    """CPU seconds of these processes (those gone count nothing)."""
    total = 0.0
    for p in pids:
        try:
            total += cpu_seconds_by_thread(p)["total"]
        except OSError:
            pass
    return total
