"""Names worker threads for the operating system too, so `top -H` and /proc show which
stream and stage a busy thread belongs to (Python's thread names stay inside Python), reads
their CPU and nice from /proc, and can run the codec threads below the event loop."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# How much nicer than the event loop the codec threads run (decoders, rung encoders and the
# x264/FFmpeg workers they start); [server] codec_nice sets it. With steps, on a box full of
# other work the loop, which sends every viewer's packets, gets a core first and the
# encoders drop frames (counted); on a box with room but other processes beside the relay,
# the encoders lose to those and drop frames needlessly. Measured both ways (README, "Who
# gets a core first"), so the default leaves them alike.
CODEC_NICE = 0
_codec_nice = CODEC_NICE

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


def _stat_fields(stat: str) -> list[str]:
    """A /proc stat file's fields from the state on (the name in parentheses may hold spaces)."""
    return stat.rsplit(")", 1)[1].split()


def _cpu_s(fields: list[str]) -> float:
    """User + system CPU seconds from _stat_fields (stat's 14th and 15th fields)."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _task_files(pid: int | str, file: str) -> Iterator[tuple[int, str, str]]:
    """(tid, OS name, text of /proc/<pid>/task/<tid>/<file>) of a process's live threads."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            text = (task / file).read_text()
        except OSError:
            continue  # the thread ended meanwhile (or the kernel has no such file)
        yield int(task.name), name, text


def _tasks(pid: int | str) -> Iterator[tuple[int, str, list[str]]]:
    """(tid, OS name, /proc stat fields from the state on) of a process's live threads."""
    for tid, name, text in _task_files(pid, "stat"):
        yield tid, name, _stat_fields(text)


def cpu_seconds_by_task(pid: int | str = "self") -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each live thread of a process: {tid: (name, s)}.
    For a difference over a window in which threads of the same name end and start (a
    benchmark's runs one after the other): a thread that ended takes its seconds with it,
    so sums by name can go down; per thread id they cannot."""
    return {tid: (name, _cpu_s(fields)) for tid, name, fields in _tasks(pid)}


def cpu_seconds_by_thread(pid: int | str = "self") -> dict[str, float]:
    """CPU seconds (user + system) of a process's threads, summed by OS thread name, plus
    "total" for the whole process. Benchmarks use it to say which stage spends the CPU."""
    out = {"total": _cpu_s(_stat_fields(Path(f"/proc/{pid}/stat").read_text()))}
    for name, seconds in cpu_seconds_by_task(pid).values():
        out[name] = out.get(name, 0.0) + seconds
    return out


def core_wait_seconds_by_thread(pid: int | str = "self") -> dict[str, float]:
    """Seconds a process's live threads spent ready to run but waiting for a core (the
    kernel's schedstat, its second field), summed by OS thread name, plus "total" over
    them. Beside their CPU seconds it says whether a box had room: on one with room a
    thread runs as soon as it is woken; on a full one a decoder's wait is its pictures'
    delay. Empty where the kernel keeps no such figures."""
    out: dict[str, float] = {}
    for _, name, text in _task_files(pid, "schedstat"):
        out[name] = out.get(name, 0.0) + int(text.split()[1]) / 1e9
    if out:
        out["total"] = sum(out.values())
    return out


def set_codec_nice(steps: int) -> None:
    """The relay's setting for codec threads started from now on (0: as the event loop)."""
    global _codec_nice
    _codec_nice = steps


def codec_nice() -> int:
    return _codec_nice


def lower_priority(steps: int) -> None:
    """Runs the calling thread `steps` nicer than the process's main thread (the event
    loop). On Linux nice is per thread and a thread starts with its creator's, so this sets
    it, not adds to it: an encoder started by the (niced) decoder's thread is no nicer than
    the decoder. The threads it starts afterwards inherit it (x264's, FFmpeg's). Raising
    nice needs no privilege; elsewhere the call does nothing (PRIO_PROCESS would name the
    process there)."""
    if steps <= 0 or not sys.platform.startswith("linux"):
        return
    target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + steps)
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
    except OSError as exc:  # a sandbox that forbids it: the thread keeps the loop's priority
        log.warning("could not lower %s's priority: %s", threading.current_thread().name, exc)


def nice_by_thread(pid: int | str = "self") -> dict[str, set[int]]:
    """The nice values of a process's live threads, by OS thread name (tests, /proc)."""
    out: dict[str, set[int]] = {}
    for _, name, fields in _tasks(pid):
        out.setdefault(name, set()).add(int(fields[16]))  # stat's 19th field
    return out
