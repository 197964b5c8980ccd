"""Idle RTMP connections that never publish (from many addresses, reconnecting as soon as they
are closed) cannot lock the drone out: it is admitted at once and goes live."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from relay.sources import rtmp_gate
from tests.conftest import RelayFactory, wait_for
from tests.e2e.test_ingest import push, stop
from tests.e2e.test_rtmp_keys import KEY, start

ADDRESSES = [f"127.0.0.{i}" for i in range(2, 10)]  # the drone pushes from 127.0.0.1
PER_ADDRESS = 4


async def hold_idle(port: int, address: str, opened: list[float]) -> None:
    """One idle client: half a handshake, then silence; reconnects when closed."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(address, 0)
            )
        except OSError:
            await asyncio.sleep(0.1)
            continue
        opened.append(time.monotonic())
        try:
            writer.write(b"\x03" + bytes(100))
            await reader.read()  # until the relay closes it
        except OSError:
            pass
        finally:
            writer.close()
        await asyncio.sleep(0.05)  # an attacker's reconnect, without spinning the test's CPU


async def test_idle_connections_from_eight_addresses_never_lock_the_drone_out(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay, base = await start(start_relay, tmp_path)
    stream = relay.relay.streams["fritz"]
    port = int(base.rsplit(":", 1)[1])
    opened: list[float] = []
    idle = [
        asyncio.ensure_future(hold_idle(port, address, opened))
        for address in ADDRESSES
        for _ in range(PER_ADDRESS)
    ]
    pusher = None
    try:
        full = len(ADDRESSES) * PER_ADDRESS
        assert full == rtmp_gate.MAX_PENDING  # every slot for connections not yet published
        await wait_for(lambda: len(opened) >= full, 10, "the idle connections")
        await asyncio.sleep(0.3)  # all of them in the relay's hands
        pushed = time.monotonic()
        pusher = push(f"{base}/live/{KEY}")
        await wait_for(lambda: stream.state == "live", 15, "the drone to go live")
        took = time.monotonic() - pushed
        assert pusher.poll() is None, "the pusher gave up"
        # The idle connections ended by the handshake deadline and came back meanwhile.
        print(f"drone live {took:.2f} s after its push; {len(opened)} idle connections opened")
        viewer = relay.viewer("fritz")
        try:
            await viewer.start()
            await viewer.wait_frames(10)
        finally:
            await viewer.close()
        assert took < 8.0, took  # a pusher's own start-up takes 1-2 s on a busy machine
    finally:
        for task in idle:
            task.cancel()
        for task in idle:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pusher is not None:
            stop(pusher)
