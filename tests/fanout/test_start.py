"""Where an Auto viewer starts (relay.fanout.start): the rung its link is known to carry,
a conservative default, and the per-client memory of estimates."""

from __future__ import annotations

import pytest

from relay.fanout.rendition import Rendition
from relay.fanout.start import DEFAULT_BPS, EstimateMemory, client_key, start_rung
from tests.fanout.test_estimator import ladder


def test_start_rung_from_what_is_known() -> None:
    rungs = ladder()
    names = lambda bps: start_rung(rungs, bps).name  # noqa: E731
    assert names(None) == "360p"  # nothing known: a rung that fits ~1 Mbit/s
    assert start_rung(rungs, DEFAULT_BPS) is start_rung(rungs, None)
    assert names(3_000_000) == "720p"
    assert names(2_000_000) == "720p"  # a known estimate: what the link carried
    assert names(400_000) == "240p"
    assert names(50_000) == "240p"  # nothing fits: the lowest
    passthrough = Rendition("s", "source", passthrough=True)  # bitrate unknown yet: 0
    assert start_rung([passthrough, *rungs], None).name == "360p"


def test_estimates_are_remembered_per_client_for_ten_minutes() -> None:
    memory = EstimateMemory()
    key = client_key("tablet-3", "10.0.0.7", None)
    assert key != client_key("tablet-3", "10.0.0.7", "abc")
    memory.remember(key, 3e6, now=0.0)
    assert memory.recall(key, now=599.0) == 3e6
    assert memory.recall(key, now=601.0) is None
    small = EstimateMemory(entries=2)
    for i in range(3):
        small.remember(str(i), float(i), now=0.0)
    assert small.recall("0", now=0.0) is None and small.recall("2", now=0.0) == 2.0
    with pytest.raises(ValueError):
        client_key("t", "a", "../../etc")
