"""Source flaps: the drone's RTMP link drops and returns while viewers watch and an incident
records; every return is live again within a second, and the recording marks each gap."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RelayFactory, free_port
from tests.flapping import flap

CYCLES = 6
# From the new push's first captured frame to a viewer decoding it live: RTMP handshake,
# probe, decode, encode, send. The target is 1 s at the p95 over 100 cycles
# (scripts/flaps.py, figures in the README); a test on a shared, loaded machine gets 1.5 s.
RETURN_P95_MS = 1500


async def test_pusher_drops_and_returns_viewers_and_recording_follow(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/fritz-key"
    recordings = tmp_path / "rec"
    relay = await start_relay(
        [{"name": "fritz", "source": url, "renditions": ["360p"]}],
        recording={"dir": str(recordings)},
    )
    report = await flap(
        relay.base_url, relay.token, "fritz", url, recordings, cycles=CYCLES, viewers=2
    )
    print(report.summary())
    assert report.back_live == CYCLES
    assert report.missed == 0, f"a viewer saw no live frame after a return: {report.summary()}"
    p95 = report.quantile(0.95)
    assert p95 is not None and p95 <= RETURN_P95_MS, f"returns p95 {p95} ms: {report.summary()}"
    gaps = report.gaps("fritz")
    assert len(gaps) == CYCLES, gaps
    for gap in gaps:
        assert 0.5 <= gap["seconds"] <= 10, gap
        assert gap["end"] > gap["start"]
    segments = report.manifest["recordings"]["fritz"]["segments"]
    assert len(segments) >= CYCLES + 1  # a new segment after every return
    assert report.verify_status == 0, report.verify_output
