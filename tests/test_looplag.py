"""The loop lag ticker sees a blocked event loop, and /metrics shows it."""

from __future__ import annotations

import asyncio
import time

from relay.looplag import LoopLag
from tests.conftest import RelayFactory, wait_for


async def test_a_blocked_loop_shows_as_lag() -> None:
    lag = LoopLag()
    lag.start()
    try:
        await asyncio.sleep(0.3)
        assert lag.histogram.count >= 10
        assert lag.recent()["p99_ms"] is not None and lag.recent()["p99_ms"] < 100
        time.sleep(0.15)  # noqa: ASYNC251 - blocks the loop on purpose, as an fsync would
        await asyncio.sleep(0.05)
        assert lag.max_ms >= 100
        assert lag.recent()["max_ms"] >= 100
    finally:
        await lag.aclose()


async def test_metrics_carry_the_loop_lag(start_relay: RelayFactory) -> None:
    relay = await start_relay([])
    lag = relay.relay.loop_lag
    await wait_for(lambda: lag.histogram.count >= 20, 5, "ticks")
    async with relay.http() as http:
        async with http.get(relay.base_url + "/metrics") as resp:
            text = await resp.text()
    lines = text.splitlines()
    assert any(line.startswith('relay_loop_lag_seconds_bucket{le="0.02"} ') for line in lines)
    count = next(line for line in lines if line.startswith("relay_loop_lag_seconds_count "))
    assert float(count.split()[1]) >= 20
    assert any(line.startswith('relay_loop_lag_recent_seconds{quantile="0.99"} ') for line in lines)
