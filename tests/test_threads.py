"""Per-thread CPU as the benchmarks read it from /proc."""

from __future__ import annotations

import threading
import time

from relay.threads import cpu_seconds_by_task, cpu_seconds_by_thread, name_native_thread


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
