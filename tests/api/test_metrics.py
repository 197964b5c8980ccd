"""/metrics: Prometheus' own parser reads what the relay exposes, with the values it knows."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RelayFactory, RunningRelay, wait_for

SIM = {
    "name": "demo",
    "source": "sim://?size=640x360&fps=30&gop=30",
    "renditions": ["360p", "240p"],
}


async def _scrape(relay: RunningRelay) -> dict[str, Any]:
    async with relay.http() as http:
        async with http.get(relay.base_url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
            text = await resp.text()
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(family: Any, name: str | None = None, **labels: str) -> float:
    found = [
        s.value
        for s in family.samples
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (family.name, labels, family.samples)
    return float(found[0])


async def test_metrics_count_a_viewer_with_conventional_names(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 20, "the simulated drone to be live")
    before = await _scrape(relay)
    assert _value(before["relay_viewers"]) == 0
    viewer = relay.viewer("demo", rendition="240p")
    await viewer.start()
    try:
        await viewer.wait_frames(10)
        families = await _scrape(relay)
    finally:
        await viewer.close()
    assert families["relay_viewers"].type == "gauge"
    assert _value(families["relay_viewers"]) == 1
    rungs = families["relay_rendition_viewers"]
    assert _value(rungs, stream="demo", rendition="240p") == 1
    assert _value(rungs, stream="demo", rendition="360p") == 0
    states = families["relay_stream_state"]
    assert _value(states, stream="demo", state=stream.state) == 1
    assert (
        sum(_value(states, stream="demo", state=st) for st in ("live", "connecting", "offline"))
        == 1
    )
    # Counters carry _total on their samples (the parser names the family without it);
    # gauges never do.
    restarts = families["relay_source_restarts"]
    assert restarts.type == "counter"
    assert _value(restarts, "relay_source_restarts_total", stream="demo") == 0
    # The viewer's pacer: the packets that reached it are counted by kind.
    packets = families["relay_viewer_packets"]
    assert packets.type == "counter"
    assert _value(packets, "relay_viewer_packets_total", stream="demo", kind="video") >= 10
    # aiortc offers no RED/ULPFEC, and a lossless link needs none: no FEC, but counted.
    assert _value(packets, "relay_viewer_packets_total", stream="demo", kind="fec") == 0
    for family in families.values():
        if family.type == "gauge":
            assert not family.name.endswith("_total"), family.name
    # Stage times in seconds, as cumulative buckets that end in +Inf = count.
    encode = families["relay_stage_encode_seconds"]
    assert encode.type == "histogram"
    count = _value(encode, "relay_stage_encode_seconds_count", stream="demo", rendition="240p")
    assert count >= 10
    inf = _value(
        encode, "relay_stage_encode_seconds_bucket", stream="demo", rendition="240p", le="+Inf"
    )
    assert inf == count
    total_s = _value(encode, "relay_stage_encode_seconds_sum", stream="demo", rendition="240p")
    assert 0 < total_s / count < 0.5  # seconds, not milliseconds


async def test_label_values_are_escaped(start_relay: RelayFactory) -> None:
    """The config allows only plain stream names today; the exposition must not depend on
    that (the old hand-written text broke on a quote or a line break)."""
    relay = await start_relay([SIM])
    odd = 'dem"o\nzwei\\drei'
    relay.relay.streams["demo"].name = odd
    families = await _scrape(relay)
    assert _value(families["relay_stream_state"], stream=odd, state="live") in (0, 1)
    assert _value(families["relay_source_restarts"], stream=odd) == 0
