"""DJI's RTMP as it really arrives (issue 11): scripts/fake_drone.py --dji pushes each quirk
alone and all together through our own RTMP publisher; viewers at a rung and at `source`
must get every picture intact (two frame marks per picture agreeing), `fps_in` the pushed
rate, and an incident recorded through all quirks must hold every picture once."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from relay.media.access_unit import AccessUnit
from relay.media.frame_marks import read_marks
from tests.conftest import RelayFactory, free_port, wait_for
from tests.recording.api import call, decode_counters, sections

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from dji_quirks import QUIRKS  # noqa: E402

FPS = 30
GOP = 30


def push_dji(url: str, quirks: str, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "fake_drone.py"),
            url,
            "--size",
            "480x272",  # small: the machine may be loaded, the checks need no more
            "--fps",
            str(FPS),
            "--gop",
            str(GOP),
            "--seconds",
            str(seconds),
            "--dji",
            quirks,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def assert_viewer(counters: list[int], damaged: int, what: str, counted_drops: int) -> None:
    """A WebRTC viewer's pictures: in order, and nearly all there and intact.

    Not "every picture" as decode_units checks: the tests' aiortc viewers decode in the
    relay's own process, and on this shared 2-core machine (load 25-30) they fall behind, their
    jitter buffers skip to the next keyframe and a few pictures decode damaged, with 0 packets
    lost, 0 drops counted by the relay, and a quirk that changes nothing in the video
    (no-audio) as often as any other. The faults of issue 11 leave nothing near these bounds:
    0 intact pictures for split pictures, every picture doubled for SEI-only messages."""
    assert len(counters) >= 30, f"{what}: only {len(counters)} intact pictures: {counters}"
    steps = list(zip(counters, counters[1:], strict=False))
    assert sum(b <= a for a, b in steps) <= 1, f"{what}: out of order: {counters}"  # 1: switch
    span = counters[-1] - counters[0] + 1
    missing = span - len(set(counters))
    print(f"{what}: {len(counters)} intact, {damaged} damaged, {missing} missing of {span}")
    assert damaged <= 0.1 * span, f"{what}: {damaged} damaged pictures of {span}"
    assert missing <= counted_drops + 0.2 * span, f"{what}: {missing} missing of {span}"


def decode_units(units: list[AccessUnit]) -> list[int | None]:
    """The counter of the one picture each unit decodes to (None: damaged)."""
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_type = "NONE"  # frame threads would hold pictures back
    counters: list[int | None] = []
    for unit in units:
        frames = decoder.decode(av.Packet(unit.data))
        assert len(frames) == 1, f"unit {len(counters)} decoded to {len(frames)} pictures"
        marks = read_marks(frames[0].to_ndarray(format="gray"))
        counters.append(marks[0] if marks else None)
    return counters


async def lost_packets(viewer: Any) -> int:
    """RTP packets the viewer's receiver never got (a loaded machine drops UDP datagrams)."""
    stats = await viewer.pc.getStats()
    return sum(s.packetsLost for s in stats.values() if s.type == "inbound-rtp")


def damaged_between(timeline: list[tuple[float, int | None, float | None]], first: int = 0) -> int:
    """Pictures without readable marks between the first marked one (from `first`) and the
    last: before and after come the slate frames."""
    marked = [i for i, (_, c, _) in enumerate(timeline) if c is not None and c >= first]
    if not marked:
        return 0
    return sum(1 for _, c, _ in timeline[marked[0] : marked[-1]] if c is None)


@pytest.mark.parametrize("quirks", [*QUIRKS, "all"])
async def test_each_quirk_every_picture_intact(start_relay: RelayFactory, quirks: str) -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/fritz"
    relay = await start_relay([{"name": "fritz", "source": url, "renditions": ["360p", "source"]}])
    stream = relay.relay.streams["fritz"]
    units: list[AccessUnit] = []
    stream.unit_listeners.append(lambda u: units.append(u) if isinstance(u, AccessUnit) else None)
    pusher = push_dji(url, quirks, 5.0)
    viewers = []
    try:
        await wait_for(lambda: stream.state == "live", 60, "the pushed stream live")
        viewers = [relay.viewer("fritz", rendition=r) for r in ("source", "360p")]
        await asyncio.gather(*(v.start() for v in viewers))
        await asyncio.sleep(2.0)
        status = await relay.stream_status("fritz")
        assert status["fps_in"] <= 1.5 * FPS, status["fps_in"]  # 2-4 parts per picture: 60+
        assert not status["source_has_bframes"], status
        _, stderr = await asyncio.to_thread(pusher.communicate, timeout=30)
        assert pusher.returncode == 0, stderr.decode()
        sent = int(re.search(rb"sent (\d+) pictures", stderr).group(1))  # type: ignore[union-attr]
        # fps_in counts access units: exactly one per picture pushed. (Its rate is the pusher's,
        # which falls behind real time on a loaded machine, hence only the bound above.)
        await wait_for(lambda: len(units) == sent, 5, f"{sent} units, one per picture")
        assert stream.rate_in.total_events == sent
        # What every path gets (passthrough, transcoder, recorder, snapshots): each unit one
        # whole picture, in order, both marks agreeing. Strict: nothing here depends on load.
        assert decode_units(units) == list(range(sent))
        span_s = (units[-1].arrival_ns - units[0].arrival_ns) / 1e9
        print(f"{quirks}: {sent} pictures, {(sent - 1) / span_s:.1f}/s, fps_in {status['fps_in']}")
        # What the relay counted as dropped for each viewer: a viewer too slow to take its
        # packets (the tests' own aiortc viewers, on a loaded machine) loses its backlog and
        # resumes at the next keyframe; the rung's encoder may drop a frame too.
        transcoder = stream.transcoder
        assert transcoder is not None and transcoder.decode_errors == 0
        drops = {
            "source": stream.renditions["source"].dropped,
            "360p": stream.renditions["360p"].dropped
            + transcoder.dropped_units
            + sum(e.dropped for e in stream.encoders),
        }
        # The viewers decode behind real time when the machine is loaded: wait for the last
        # ones (a WebRTC receiver holds the last few frames until more arrive).
        for viewer in viewers:
            r = viewer.received
            try:
                await wait_for(lambda r=r: r.counters[-1:] >= [sent - 10], 10, "the last pictures")
            except AssertionError:
                pass  # judged below by what arrived
        lost = [await lost_packets(v) for v in viewers]
        source, rung = (v.received for v in viewers)
        # A passthrough viewer starts on the rung and moves to the drone's own packets at its
        # next IDR (every GOP pictures): from there on, the drone's pictures.
        idr = (source.counters[0] // GOP + 1) * GOP if source.counters else 0
        own = [c for c in source.counters if c >= idr]
        print(f"{quirks}: packets lost {lost}, dropped {drops}")
        assert_viewer(own, damaged_between(source.timeline, idr), f"source {lost}", drops["source"])
        assert_viewer(rung.counters, damaged_between(rung.timeline), f"360p {lost}", drops["360p"])
        repairs = stream.host.repairs()
        if "split-pictures" in quirks or "split-nal" in quirks or quirks == "all":
            assert repairs["messages_joined"] > 0, repairs
        if "split-nal" in quirks or quirks == "all":
            assert repairs["nal_units_completed"] > 0, repairs
        if "jitter" in quirks or quirks == "all":
            assert stream.pts_repaired > 0
        assert repairs["nal_units_dropped"] == 0, repairs
        assert repairs["pictures"] == sent, repairs
    finally:
        for viewer in viewers:
            await viewer.close()
        if pusher.poll() is None:
            pusher.kill()
        pusher.wait(timeout=10)


async def test_incident_recorded_through_all_quirks(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/fritz"
    relay = await start_relay(
        [{"name": "fritz", "source": url, "renditions": ["360p"]}], **sections(tmp_path)
    )
    stream = relay.relay.streams["fritz"]
    pusher = push_dji(url, "all", 12.0)
    try:
        await wait_for(lambda: stream.state == "live", 60, "the pushed stream live")
        status, body = await call(
            relay.base_url, "POST", "/api/incidents", {"title": "DJI", "streams": ["fritz"]}
        )
        assert status == 201, body
        incident_id = body["id"]
        recorder = relay.relay.incidents.get(incident_id).recorders["fritz"]
        await wait_for(lambda: recorder.written >= 10 * FPS, 30, "10 s recorded")
        status, _ = await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")
        assert status == 200
        status, detail = await call(relay.base_url, "GET", f"/api/incidents/{incident_id}")
        segments = detail["recordings"][0]["segments"]
        counters: list[int] = []
        sizes: set[tuple[int, int]] = set()
        for seg in segments:
            counters += decode_counters(tmp_path / "rec" / incident_id / seg["file"])
            sizes.add(header_size(tmp_path / "rec" / incident_id / seg["file"]))
            # No B-frames: shown in the order decoded, the jittered pts repaired (not swapped).
            pts = packet_pts(tmp_path / "rec" / incident_id / seg["file"])
            assert pts == sorted(set(pts)), f"{seg['file']}: pts out of order"
        assert counters == list(range(counters[0], counters[0] + len(counters)))
        assert len(counters) == recorder.written == sum(s["frames"] for s in segments)
        # res-change: 480x272, then 720x408 in a segment of its own with its own header.
        assert sizes == {(480, 272), (720, 408)}, sizes
    finally:
        if pusher.poll() is None:
            pusher.kill()
        pusher.wait(timeout=10)


def packet_pts(path: Path) -> list[int]:
    """The pts of a file's video packets in decode order."""
    with av.open(str(path)) as container:
        return [p.pts for p in container.demux(video=0) if p.pts is not None]


def header_size(path: Path) -> tuple[int, int]:
    """The size a segment's header (its avcC) says; each picture must agree with it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        declared = (stream.codec_context.width, stream.codec_context.height)
        for frame in container.decode(stream):
            assert (frame.width, frame.height) == declared, path
    return declared
