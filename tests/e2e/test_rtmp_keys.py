"""RTMP publish keys: a push to the wrong app or key, or a second push while one is live, is
refused before any of its media reaches a viewer, logged with the stream's prefix and written
to the audit log; the right key is admitted as before. Pushers: scripts/fake_drone.py (PyAV)
and Debian's ffmpeg CLI."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RelayFactory, RunningRelay, free_port, wait_for
from tests.e2e.test_ingest import push, push_until_live, stop

KEY = "k3y-Fritz-7d1c"


def ffmpeg_push(url: str) -> subprocess.Popen[bytes]:
    if not shutil.which("ffmpeg"):
        pytest.skip("Debian's ffmpeg is not installed")
    return subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-f",
            "flv",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def exits(proc: subprocess.Popen[bytes], timeout: float = 15) -> tuple[int, str]:
    await wait_for(lambda: proc.poll() is not None, timeout, "the refused pusher to give up")
    assert proc.stderr is not None
    return proc.returncode, proc.stderr.read().decode(errors="replace")


def events(relay: RunningRelay, name: str) -> list[dict[str, Any]]:
    return [e for e in relay.relay.audit.read() if e["event"] == name]


async def start(start_relay: RelayFactory, tmp_path: Path) -> tuple[RunningRelay, str]:
    base = f"rtmp://127.0.0.1:{free_port()}"
    relay = await start_relay(
        [{"name": "fritz", "source": f"{base}/live/{KEY}", "renditions": ["360p"]}],
        server={"data_dir": str(tmp_path)},
    )
    return relay, base


async def test_wrong_key_and_app_refused_right_key_plays(
    start_relay: RelayFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    relay, base = await start(start_relay, tmp_path)
    stream = relay.relay.streams["fritz"]
    viewer = relay.viewer("fritz")
    await viewer.start()  # watching before anyone pushes: it must see nothing from a refusal
    pusher = None
    try:
        wrong = [
            (push(f"{base}/live/{KEY}x"), "wrong stream key"),
            (push(f"{base}/other/{KEY}"), "wrong app"),
            (ffmpeg_push(f"{base}/live/guess"), "wrong stream key"),
            (ffmpeg_push(f"{base}/studio/{KEY}"), "wrong app"),
        ]
        for proc, _ in wrong:
            code, err = await exits(proc)
            assert code != 0, err
        refused = events(relay, "publish_refused")
        assert len(refused) == 4
        assert {e["reason"].split(" '")[0] for e in refused} == {"wrong stream key", "wrong app"}
        for entry in refused:
            assert entry["stream"] == "fritz" and entry["from"].startswith("127.0.0.1:")
            assert KEY not in str(entry)
        assert not stream.ever_live and stream.rate_in.per_second()[1] == 0
        assert viewer.received.counters == [], "a frame of a refused push reached a viewer"
        assert (await relay.stream_status("fritz"))["state"] == "offline"
        logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(logged) == 4 and all(m.startswith("[stream fritz] ") for m in logged)
        assert all(KEY not in r.getMessage() for r in caplog.records)

        began = time.monotonic()
        pusher = push(f"{base}/live/{KEY}")
        await wait_for(lambda: len(viewer.received.counters) >= 30, 20, "frames of the right key")
        print(f"right key: first frames {time.monotonic() - began:.2f} s after the push began")
        assert (await relay.stream_status("fritz"))["state"] == "live"
        [started] = events(relay, "publish_start")
        assert started["stream"] == "fritz" and started["from"].startswith("127.0.0.1:")
    finally:
        await viewer.close()
        if pusher is not None:
            stop(pusher)
    await wait_for(lambda: bool(events(relay, "publish_stop")), 10, "publish_stop")


async def test_ffmpeg_cli_right_key_goes_live(start_relay: RelayFactory, tmp_path: Path) -> None:
    relay, base = await start(start_relay, tmp_path)
    stream = relay.relay.streams["fritz"]
    proc = ffmpeg_push(f"{base}/live/{KEY}")
    try:
        await wait_for(lambda: stream.state == "live", 20, "the ffmpeg push to go live")
        await wait_for(lambda: stream.rate_in.per_second()[0] > 20, 10, "25 fps in")
        assert len(events(relay, "publish_start")) == 1 and not events(relay, "publish_refused")
    finally:
        stop(proc)


async def test_second_publisher_refused_first_plays_on(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay, base = await start(start_relay, tmp_path)
    stream = relay.relay.streams["fritz"]
    url = f"{base}/live/{KEY}"
    first = await push_until_live(url, lambda: stream.state == "live")
    viewer = relay.viewer("fritz")
    try:
        await viewer.start()
        await viewer.wait_frames(10)
        for second in (push(url), ffmpeg_push(url)):  # the right key, but the slot is taken
            code, err = await exits(second)
            assert code != 0, err
        refused = events(relay, "publish_refused")
        assert [e["reason"] for e in refused] == ["another publisher is live"] * 2
        before = len(viewer.received.counters)
        await wait_for(
            lambda: len(viewer.received.counters) > before + 30,
            10,
            "the first publisher's frames to go on",
        )
        assert first.poll() is None and stream.state == "live"
        assert len(events(relay, "publish_start")) == 1
    finally:
        await viewer.close()
        stop(first)


async def test_idle_and_junk_connections_never_block_the_drone(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """Connections that never publish (a port scan, a stalled client) do not hold the stream:
    the drone is admitted while they hang."""
    relay, base = await start(start_relay, tmp_path)
    stream = relay.relay.streams["fritz"]
    port = int(base.rsplit(":", 1)[1])
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    try:
        for _reader, writer in idle:
            writer.write(b"\x03" + bytes(100))  # half a handshake, then silence
        pusher = await push_until_live(f"{base}/live/{KEY}", lambda: stream.state == "live")
        stop(pusher)
    finally:
        for _reader, writer in idle:
            writer.close()


async def raw_publish(port: int, app: str, key: str) -> bytes:
    """A minimal RTMP publisher: handshake, connect, createStream, publish, all sent at once;
    returns everything the server answered until it closed (b"" if it closed at once)."""
    from relay.sources import amf0
    from relay.sources import rtmp_chunks as rc

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\x03" + bytes(1536))
        try:
            s0s1s2 = await asyncio.wait_for(reader.readexactly(1 + 2 * 1536), 5)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return b""
        writer.write(s0s1s2[1:1537])
        for values in (
            ("connect", 1.0, {"app": app, "type": "nonprivate"}),
            ("createStream", 2.0, None),
            ("publish", 3.0, None, key, "live"),
        ):
            writer.write(rc.encode_message(3, rc.COMMAND_AMF0, amf0.encode(*values), 128))
        writer.write(rc.encode_message(4, rc.VIDEO, b"\x17\x00" + bytes(100), 128, 1))
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_guessing_keys_gets_an_address_ignored(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay, base = await start(start_relay, tmp_path)
    port = int(base.rsplit(":", 1)[1])
    answers = [await raw_publish(port, "live", f"guess{n}") for n in range(12)]
    assert all(b"stream key refused" in a for a in answers[:10])
    assert answers[10:] == [b"", b""], "after 10 refusals the address gets no answer"
    refused = events(relay, "publish_refused")
    assert len(refused) == 10 and len(events(relay, "publish_throttled")) == 1
    assert not relay.relay.streams["fritz"].ever_live


async def test_two_simultaneous_pushes_one_wins(start_relay: RelayFactory, tmp_path: Path) -> None:
    relay, base = await start(start_relay, tmp_path)
    port = int(base.rsplit(":", 1)[1])
    # Both send everything at once: the slot is decided between their publish commands.
    # The winner sends no more media and is dropped after 4 s of silence.
    answers = await asyncio.gather(*(raw_publish(port, "live", KEY) for _ in range(2)))
    started = [a for a in answers if b"NetStream.Publish.Start" in a]
    refused = [a for a in answers if b"already has a publisher" in a]
    assert len(started) == 1 and len(refused) == 1, answers
    assert [e["reason"] for e in events(relay, "publish_refused")] == ["another publisher is live"]
    await wait_for(lambda: bool(events(relay, "publish_stop")), 10, "publish_stop")
    assert events(relay, "publish_stop")[0]["reason"] == "nothing received for 4 s"
