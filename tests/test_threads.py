"""Per-thread CPU as the benchmarks read it from /proc, and the codec threads' priority."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from relay.supervise import WorkerThread
from relay.threads import (
    core_wait_seconds_by_thread,
    cpu_seconds_by_task,
    cpu_seconds_by_thread,
    lower_priority,
    name_native_thread,
)


def test_a_busy_thread_is_found_by_id_and_name_and_an_ended_one_is_gone() -> None:
    ready, stop = threading.Event(), threading.Event()
    tids: list[int] = []

    def spin() -> None:
        name_native_thread("spin-test")
        tids.append(threading.get_native_id())
        deadline = time.thread_time() + 0.2
        while time.thread_time() < deadline:
            pass  # 0.2 s of CPU, whatever the machine's load
        ready.set()
        stop.wait(10)

    worker = threading.Thread(target=spin)
    worker.start()
    assert ready.wait(30)
    by_task = cpu_seconds_by_task()
    name, seconds = by_task[tids[0]]
    assert name == "spin-test"
    assert seconds >= 0.15  # clock ticks: 10 ms steps
    assert cpu_seconds_by_thread()["spin-test"] == seconds
    stop.set()
    worker.join()
    # join() returns before the OS thread has quite exited: its task may linger a moment.
    deadline = time.monotonic() + 5
    while tids[0] in cpu_seconds_by_task() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tids[0] not in cpu_seconds_by_task()  # what a sum by name would lose


@pytest.mark.skipif(not Path("/proc/self/schedstat").exists(), reason="no schedstat here")
def test_threads_that_outnumber_the_cores_are_seen_waiting_for_one() -> None:
    # Hashing a large buffer releases the GIL: these threads all want a core at once.
    cores = len(os.sched_getaffinity(0))
    data = bytes(1 << 20)
    before = core_wait_seconds_by_thread().get("crowd-test", 0.0)
    done = threading.Barrier(cores + 3)

    def crowd() -> None:
        name_native_thread("crowd-test")
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            hashlib.sha256(data).digest()
        done.wait(30)  # still alive when read: an ended thread takes its figures along

    workers = [threading.Thread(target=crowd) for _ in range(cores + 2)]
    for worker in workers:
        worker.start()
    time.sleep(0.6)
    waited = core_wait_seconds_by_thread()
    done.wait(30)
    for worker in workers:
        worker.join()
    assert waited["crowd-test"] - before > 0.05  # cores + 2 runnable for 0.5 s: a wait


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def test_a_worker_runs_nicer_than_the_main_thread_and_the_threads_it_starts_too() -> None:
    base = _nice(os.getpid())
    seen: dict[str, int] = {}

    def note(name: str) -> None:
        seen[name] = _nice(threading.get_native_id())

    def started_by_the_worker() -> None:
        note("inherited")  # as x264's and FFmpeg's own threads are started
        lower_priority(3)  # the same steps again: set from the main thread's, not added
        note("again")

    def work() -> None:
        note("worker")
        child = threading.Thread(target=started_by_the_worker)
        child.start()
        child.join(10)

    worker = WorkerThread("test", "nice", "nice-test", work, nice=3)
    worker.start()
    worker.join(10)
    assert seen == {"worker": base + 3, "inherited": base + 3, "again": base + 3}
    assert _nice(os.getpid()) == base  # the event loop's thread is left as it was
