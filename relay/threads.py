"""Names worker threads for the operating system too, so `top -H` and /proc show which
stream and stage a busy thread belongs to (Python's thread names stay inside Python)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path

_PR_SET_NAME = 15
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
except OSError:  # not glibc/Linux: names stay Python-only
    _libc = None


def name_native_thread(name: str | None = None) -> None:
    """Gives the calling thread its Python name (or `name`) in /proc (15 bytes at most)."""
    label = (name or threading.current_thread().name).encode()[:15]
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(label), 0, 0, 0)


def _cpu_s(stat_path: Path) -> float:
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_task(pid: int | str = "self") -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each live thread of a process: {tid: (name, s)}.
    For a difference over a window in which threads of the same name end and start (a
    benchmark's runs one after the other): a thread that ended takes its seconds with it,
    so sums by name can go down; per thread id they cannot."""
    out: dict[int, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = ((task / "comm").read_text().strip(), _cpu_s(task / "stat"))
        except OSError:
            continue  # the thread ended meanwhile
    return out


def cpu_seconds_by_thread(pid: int | str = "self") -> dict[str, float]:
    """CPU seconds (user + system) of a process's threads, summed by OS thread name, plus
    "total" for the whole process. Benchmarks use it to say which stage spends the CPU."""
    out = {"total": _cpu_s(Path(f"/proc/{pid}/stat"))}
    for name, seconds in cpu_seconds_by_task(pid).values():
        out[name] = out.get(name, 0.0) + seconds
    return out
