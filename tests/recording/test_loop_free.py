"""Incident handlers never wait on the event loop for a lock or a disk, and retention never
deletes an incident under a handler's feet."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from tests.conftest import RelayFactory, wait_for
from tests.recording.api import SIM, call, sections


async def _max_lag_during(coro_factory, seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Runs the requests while a 10 ms ticker notes how late the loop wakes it (max, s)."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - t - 0.01)

    tick = asyncio.create_task(ticker())
    try:
        results = await asyncio.wait_for(coro_factory(), seconds)
    finally:
        done.set()
        await tick
    assert all(status == 200 for status, _ in results), results
    return worst


async def test_hold_and_detail_wait_for_a_busy_manifest_off_the_loop(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    status, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "t", "streams": ["demo"]}
    )
    assert status == 201
    incident = relay.relay.incidents.get(body["id"])
    locked = threading.Event()

    def slow_manifest_save() -> None:  # a recorder thread saving on a slow disk
        with incident.lock:
            locked.set()
            time.sleep(1.5)

    holder = threading.Thread(target=slow_manifest_save)
    holder.start()
    locked.wait()
    path = f"/api/incidents/{body['id']}"
    worst = await _max_lag_during(
        lambda: asyncio.gather(
            call(relay.base_url, "POST", path + "/hold", {"hold": True}),
            call(relay.base_url, "GET", path),
        ),
        10,
    )
    holder.join()
    assert worst < 0.3, f"the event loop stalled {worst * 1000:.0f} ms"
    assert incident.manifest["hold"] is True
    await call(relay.base_url, "POST", path + "/stop")


async def test_retention_leaves_an_incident_a_handler_works_on(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    _, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "t", "streams": ["demo"]}
    )
    incident = relay.relay.incidents.get(body["id"])
    await wait_for(lambda: incident.recorders["demo"].written >= 30, 20, "a second recorded")
    await call(relay.base_url, "POST", f"/api/incidents/{body['id']}/stop")
    later = time.time() + 400 * 86400
    incident.busy += 1  # as a clip export or snapshot does while it works in its thread
    assert await relay.relay.incidents.sweep(now=later) == []
    assert incident.folder.is_dir()
    incident.busy -= 1
    # A hold waiting for the manifest (a recorder thread holds its lock) is work on it too.
    with incident.lock:
        hold = asyncio.create_task(
            call(relay.base_url, "POST", f"/api/incidents/{body['id']}/hold", {"hold": False})
        )
        await wait_for(lambda: incident.busy == 1, 10, "the hold to wait for the lock")
        assert await relay.relay.incidents.sweep(now=later) == []
    assert (await hold)[0] == 200
    assert await relay.relay.incidents.sweep(now=later) == [body["id"]]
    assert not incident.folder.exists()
    status, _ = await call(relay.base_url, "GET", f"/api/incidents/{body['id']}")
    assert status == 404
