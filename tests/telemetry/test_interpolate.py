"""Views between and after measurements (relay.telemetry.interpolate): a DJI-like sender at
0.5 Hz gives views at 10 Hz, each marked interpolated or estimated; a measured one is shown
as measured; nothing is made up beyond the estimate's horizon."""

from __future__ import annotations

import time
from typing import Any

import pytest

from relay.telemetry.hub import TelemetryHub
from relay.telemetry.interpolate import HORIZON_S
from relay.telemetry.model import Telemetry
from tests.conftest import RelayFactory
from tests.telemetry.test_push import PUBLISHER, VIEWER_P, push, read_event, start

T0 = 1_900_000_000.0


def dji(i: int, t0: float = T0) -> Telemetry:
    """The i-th OSD message of an aircraft flying east at 5 m/s and climbing 1 m/s, turning
    through north (350° -> 10°), one message every 2 s."""
    return Telemetry(
        time=t0 + 2.0 * i,
        source="dji",
        lat=48.0,
        lon=11.0 + 0.0001 * i,
        alt_rel_m=80.0 + 2.0 * i,
        heading_deg=(350.0 + 20.0 * i) % 360.0,
        battery_pct=90.0 - i,
    )


def test_a_half_hertz_sender_gives_marked_views_at_10_hz() -> None:
    hub = TelemetryHub("m30t", clock=lambda: T0 + 10.0)
    for i in range(3):
        hub.publish(dji(i))
    for k in range(40):  # 4 s at 10 Hz, between the frames' 100 ms marks
        offset = 0.05 + k / 10
        view = hub.view_at(T0 + offset)
        assert view is not None
        nearest = 2.0 * round(offset / 2)
        measured = abs(offset - nearest) <= 0.1  # within 100 ms of one: as measured
        assert view.get("interpolated", False) is not measured, (k, view)
        assert "estimated" not in view
        expected_alt = 80.0 + (nearest if measured else offset)  # climbing 1 m/s
        assert view["alt_rel_m"] == pytest.approx(expected_alt), (k, view)
    # Halfway between 350° and 10° is north, not south; its time is the moment asked for.
    half = hub.view_at(T0 + 1.0)
    assert half is not None and half["heading_deg"] % 360 == pytest.approx(0.0, abs=1e-9)
    assert half["time"] == T0 + 1.0 and half["measured_time"] == T0 + 2.0
    assert half["lon"] == pytest.approx(11.00005)
    assert half["source"] == "dji"
    # A measured view is the measurement as it came, unmarked.
    exact = hub.view_at(T0 + 2.05)
    assert exact is not None and exact["time"] == T0 + 2.0 and "measured_time" not in exact


def test_after_the_newest_measurement_an_estimate_for_a_short_while_then_the_measurement() -> None:
    now = [T0 + 4.0]
    hub = TelemetryHub("m30t", clock=lambda: now[0])
    hub.publish(dji(0))
    held = hub.view_at(T0 + 1.0)  # one measurement: nothing to carry on from
    assert held is not None and held["time"] == T0 and "estimated" not in held
    hub.publish(dji(1))
    est = hub.view_at(T0 + 3.0)
    assert est is not None and est["estimated"] is True and "interpolated" not in est
    assert est["alt_rel_m"] == pytest.approx(83.0)  # 1 m/s on from 82 m
    assert est["lon"] == pytest.approx(11.00015)
    assert est["heading_deg"] == pytest.approx(10.0)  # held: a turn is not guessed
    assert est["battery_pct"] == 89.0
    assert est["measured_time"] == T0 + 2.0 and est["age_s"] == pytest.approx(2.0)
    # Beyond the horizon: the newest measurement as it is, its age growing.
    late = hub.view_at(T0 + 2.0 + HORIZON_S + 0.5)
    assert late is not None and late["time"] == T0 + 2.0 and "estimated" not in late
    now[0] = T0 + 8.0
    stale = hub.view_at(T0 + 7.5)
    assert stale is not None and stale["stale"] is True  # 6 s since the measurement
    # Resampled views only for a sparse source, and only up to the horizon.
    assert hub.resampling(T0 + 3.0) and not hub.resampling(T0 + 2.5 + HORIZON_S)


def test_a_burst_of_messages_gives_no_rate() -> None:
    """MAVLink's messages of one moment arrive a millisecond apart, each a sample: a rate
    over that millisecond would throw the estimate kilometres off."""
    hub = TelemetryHub("d", clock=lambda: T0 + 1.0)
    hub.publish(Telemetry(time=T0 - 1.0, source="mavlink", lat=48.0, alt_rel_m=50.0))
    hub.publish(Telemetry(time=T0, source="mavlink", lat=48.0, alt_rel_m=60.0))
    hub.publish(Telemetry(time=T0 + 0.001, source="mavlink", lat=48.0001, alt_rel_m=60.1))
    est = hub.view_at(T0 + 1.0)
    assert est is not None and est["estimated"] is True
    assert est["alt_rel_m"] == pytest.approx(70.1, abs=0.1)  # 10 m/s, over the last second
    assert est["lat"] == pytest.approx(48.0002, abs=1e-6)


def test_a_sender_whose_clock_steps_back_starts_a_new_track() -> None:
    hub = TelemetryHub("p", clock=lambda: T0 + 30.0)
    hub.publish(dji(0, T0 + 20))
    hub.publish(dji(1, T0))  # older than the one before: the newest counts, alone
    view = hub.view_at(T0 + 30.0)
    assert view is not None and view["time"] == T0 + 2.0 and view["stale"] is True


def events_per_second(events: list[dict[str, Any]]) -> float:
    return (len(events) - 1) / (events[-1]["time"] - events[0]["time"])


async def test_sse_interpolates_a_sparse_push_for_the_viewers_frame(
    start_relay: RelayFactory,
) -> None:
    """A ground station relaying 0.5 Hz positions; a viewer whose picture lags 1.5 s asks for
    delay_ms=1500 and gets views for its frame on screen, 10 a second, interpolated between
    the measurements and marked so."""
    relay = await start(start_relay)
    now = time.time()
    for i in range(3):  # measured 4 s, 2 s and 0 s ago
        assert (await push(relay, msg(dji(i, now - 4.0)), PUBLISHER))[0] == 204
    url = relay.base_url + "/api/streams/p/telemetry/events?delay_ms=1500"
    async with relay.http(VIEWER_P) as http, http.get(url) as resp:
        assert resp.status == 200
        events = [await read_event(resp) for _ in range(10)]
    for event in events:
        assert event["interpolated"] is True, event
        assert now - 2.0 < event["time"] < now, event  # between the last two measurements
        assert 82.0 < event["alt_rel_m"] < 84.0
        assert event["measured_time"] == pytest.approx(now)
    times = [e["time"] for e in events]
    assert times == sorted(times)
    assert events_per_second(events) <= 10.5, times  # the frames' times advance at 10 Hz
    async with relay.http(VIEWER_P) as http:
        async with http.get(url.replace("1500", "soon")) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "bad_delay"


def msg(sample: Telemetry) -> dict[str, Any]:
    """A sample as a ground station pushes it (the relay sets the source)."""
    fields = sample.view(sample.time)
    return {k: v for k, v in fields.items() if k not in ("source", "age_s", "stale")}
