"""Regression cases for what the fuzzer (scripts/fuzz.py) found; each failed before its fix."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import av
import pytest

from relay.config import load_config
from relay.errors import ConfigError
from relay.sources import rtmp_chunks as rc
from relay.transcode.processors.osd import OsdProcessor
from scripts.fuzzing.targets_rtmp import _encode_all, _handshake, publish_commands
from tests.conftest import RelayFactory, free_port, wait_for


async def test_rtmp_publisher_with_unknown_video_codec_is_refused_by_name(
    start_relay: RelayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """fuzz rtmp-chunks (seed 7): an admitted publisher whose only video tag names codec id 15
    (none that FFmpeg knows) left the demuxer a video stream without a codec context, and
    the source thread died on `None.name` (AttributeError): a crash, reported as a source
    failure with backoff, instead of a refusal (SourceError "video is unknown")."""
    port = free_port()
    await start_relay(
        [{"name": "d", "source": f"rtmp://127.0.0.1:{port}/live/k3y", "renditions": ["240p"]}]
    )
    caplog.set_level(logging.INFO, logger="relay.sources.supervisor")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _handshake(reader, writer)
    commands, _ = _encode_all(publish_commands("live", "k3y"))
    writer.write(commands)
    tag = b"\x1f" + bytes(range(64))  # keyframe, codec id 15
    for ts in range(0, 330, 33):
        writer.write(rc.encode_message(4, rc.VIDEO, tag, 4096, stream_id=1, timestamp=ts))
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()

    def outcomes() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "relay.sources.supervisor"]

    await wait_for(lambda: bool(outcomes()), 10, "the source to give up on that publisher")
    # A publisher that sent what cannot be decoded and left ends its push like any other
    # publisher that left (the source says why only while it is still connected).
    assert "source ended" in outcomes()[0], outcomes()[0]


@pytest.mark.parametrize("size", [(32, 8), (2, 2), (16, 12)])
def test_osd_on_a_picture_smaller_than_its_label(size: tuple[int, int]) -> None:
    """fuzz h264 (seed 7, cases 1600..1699): a mutated SPS gave the decoder a picture
    smaller than the OSD's label; the label's top (and the badge's left) went negative,
    blend_label took an empty slice, numpy raised, and the transcoder thread died for good
    (every rung of the stream frozen). Now the label is clipped on every side."""
    frame = av.VideoFrame(size[0], size[1], "yuv420p")
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    OsdProcessor("udp").process(frame, live=True)  # raised ValueError before


@pytest.mark.parametrize("source", ["rtmp://[::1/live/k", "udp://[0.0.0.0:5000", "rtsp://h]:1/x"])
def test_config_with_a_broken_url_exits_2(tmp_path: Path, source: str) -> None:
    """fuzz config (seed 7): a source URL with an unclosed IPv6 bracket made urlsplit raise
    ValueError inside the config check: a traceback instead of exit 2 and a message."""
    config = tmp_path / "bad.toml"
    config.write_text(f'[[streams]]\nname = "a"\nsource = "{source}"\nrenditions = ["360p"]\n')
    with pytest.raises(ConfigError, match=r"streams\[0\]"):
        load_config(config)
    run = subprocess.run(
        [sys.executable, "-m", "relay", "serve", "--config", str(config)],
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert b"config error" in run.stderr and b"Traceback" not in run.stderr


async def test_offer_with_a_candidate_port_past_65535_is_refused(
    start_relay: RelayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """fuzz whep-sdp (seed 11, case 5700): a candidate whose port was past 65535 reached
    aioice, whose sendto() raised OverflowError ("Fatal write error on datagram transport",
    logged by asyncio). The offer is refused with 400 now, and the relay logs nothing."""
    relay = await start_relay([{"name": "demo", "source": "sim://?size=320x180&fps=15"}])
    viewer = relay.viewer("demo")
    await viewer.prepare()
    sdp = viewer.pc.localDescription.sdp
    try:
        good = next(line for line in sdp.splitlines() if line.startswith("a=candidate:"))
        fields = good.split()
        fields[5] = "99999"
        bad = sdp.replace(good, " ".join(fields))
        async with relay.http() as http:
            async with http.post(
                relay.base_url + "/whep/demo", data=bad, headers={"Content-Type": "application/sdp"}
            ) as resp:
                body = await resp.json()
        assert resp.status == 400 and body["error"] == "bad_offer", body
        assert "99999" in body["reason"]
        await asyncio.sleep(0.5)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await viewer.close()
