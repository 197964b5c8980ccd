"""The transcoder on real encoded input: order, timestamps, overlay, rung sizes and rates."""

from __future__ import annotations

import dataclasses
import os
import queue
import time
from pathlib import Path

import av
import numpy as np

from relay.config import RUNGS
from relay.media.access_unit import AccessUnit
from relay.media.frame_marks import read_marks
from relay.media.packet import EncodedPacket
from relay.threads import CODEC_NICE, cpu_seconds_by_task, nice_by_thread, set_codec_nice
from relay.transcode.encoder import KEYFRAME_INTERVAL_S, RungEncoder
from relay.transcode.transcoder import Transcoder
from tests.media_gen import access_units, make_clip


def run_transcoder(
    units: list[AccessUnit], rungs: list[str], fps: int = 30
) -> dict[str, list[EncodedPacket]]:
    out: dict[str, queue.Queue[EncodedPacket]] = {name: queue.Queue() for name in rungs}
    encoders = [
        RungEncoder("test", RUNGS[name], fps, publish=out[name].put, want_keyframe=lambda: False)
        for name in rungs
    ]
    transcoder = Transcoder("test", encoders)
    transcoder.start()
    started = time.monotonic()
    try:
        for i, unit in enumerate(units):  # at real-time pace, as a live source delivers
            time.sleep(max(0.0, started + i / fps - time.monotonic()))
            transcoder.feed(unit)
        deadline = time.monotonic() + 5
        # Frames encoded, or skipped by a rung that caps the frame rate (240p: 15 fps).
        while any(e.frames_out + e.skipped < len(units) - 5 for e in encoders):
            assert time.monotonic() < deadline, [e.frames_out for e in encoders]
            time.sleep(0.05)
    finally:
        transcoder.close()
    return {name: list(q.queue) for name, q in out.items()}


def decode(packets: list[EncodedPacket]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    frames = []
    for item in packets:
        frames += decoder.decode(item.packet)
    return frames


def test_bframe_input_comes_out_in_order_with_monotonic_timestamps(tmp_path: Path) -> None:
    units = access_units(
        make_clip(tmp_path / "b.mp4", seconds=2.0, size=(1280, 720), high_bframes=True)
    )
    assert any(b.pts < a.pts for a, b in zip(units, units[1:], strict=False)), (
        "the clip must really carry B-frames (pts out of decode order)"
    )
    out = run_transcoder(units, ["720p"])["720p"]
    pts = [p.packet.pts for p in out]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "pts must only grow"
    frames = decode(out)
    counters = [m[0] for f in frames if (m := read_marks(f.to_ndarray(format="gray")))]
    assert len(counters) >= len(units) - 5
    assert counters == sorted(counters) and len(set(counters)) == len(counters)
    # No B-frames on the wire: every packet decodes to exactly one frame at once.
    assert len(frames) == len(out)


def test_a_reordered_picture_is_timed_from_the_unit_that_carried_it(tmp_path: Path) -> None:
    """With B-frames the decoder gives a picture out a few units after the one that carried
    it; the relay's delay counts from that unit's arrival, the wait in the decoder included."""
    clip = make_clip(tmp_path / "b.mp4", seconds=1.0, size=(320, 240), high_bframes=True)
    # Each unit "arrived" at a time of its own, so that a picture timed from another shows.
    units = [
        dataclasses.replace(u, arrival_ns=1_000_000 * (i + 1))
        for i, u in enumerate(access_units(clip))
    ]
    assert any(b.pts < a.pts for a, b in zip(units, units[1:], strict=False)), "no B-frames"
    carried_in = {u.pts: u.arrival_ns for u in units}
    transcoder = Transcoder("test", [])
    timed: list[tuple[int, int]] = []
    transcoder._process_and_encode = (  # type: ignore[method-assign]
        lambda frame, arrival_ns, *rest, **named: timed.append((frame.pts, arrival_ns))
    )
    for unit in units:
        transcoder._decode(unit)
    assert len(timed) >= len(units) - 3  # the decoder's reorder depth still held back
    assert [arrival for _, arrival in timed] == [carried_in[pts] for pts, _ in timed]


def test_rung_sizes_and_bitrates(tmp_path: Path) -> None:
    units = access_units(
        make_clip(tmp_path / "c.mp4", seconds=4.0, size=(1280, 720), high_bframes=False)
    )
    out = run_transcoder(units, ["720p", "360p"])
    for name, (width, height) in (("720p", (1280, 720)), ("360p", (640, 360))):
        frames = decode(out[name])
        assert {(f.width, f.height) for f in frames} == {(width, height)}
        seconds = len(out[name]) / 30
        bitrate = sum(p.packet.size for p in out[name]) * 8 / seconds
        target = RUNGS[name].bitrate
        assert 0.5 * target <= bitrate <= 1.3 * target, (name, bitrate, target)
        keyframes = [i for i, p in enumerate(out[name]) if p.keyframe]
        # A 4 s GOP: the 4 s clip (and the slate after it) starts on the one periodic IDR;
        # joins and losses force theirs (tests/fanout, tests/webrtc).
        assert keyframes[0] == 0 and all(i % (30 * KEYFRAME_INTERVAL_S) == 0 for i in keyframes)
        profile = bytes(out[name][0].packet)
        sps = profile[profile.find(b"\x67") + 1]
        assert sps == 66, "Constrained Baseline (profile_idc 66) for every browser"
        # The options x264 writes into its first picture (an SEI): a cheaper motion search and
        # one step less sub-pixel refinement than veryfast (docs/tight-path.md).
        settings = profile[profile.find(b"x264 - core") :].split(b"\x00")[0].decode()
        assert " subme=1 " in settings and " me=dia " in settings, settings


def test_osd_is_drawn_on_the_picture(tmp_path: Path) -> None:
    units = access_units(
        make_clip(tmp_path / "o.mp4", seconds=1.0, size=(1280, 720), high_bframes=False)
    )
    source = [
        f.to_ndarray(format="gray")
        for f in decode([EncodedPacket(av.Packet(u.data), u.keyframe, 0, 0) for u in units])
    ]
    frames = decode(run_transcoder(units, ["720p"])["720p"])
    y_out = frames[10].to_ndarray(format="gray")
    # Bottom-left (OSD bar: text 1/30 of the height, half that as margin): the stream name
    # and UTC time in white, on a box darkened to a quarter.
    box, under = y_out[688:704, 16:300], source[10][688:704, 16:300]
    assert (box > 200).mean() > 0.05, "no bright OSD text in the bottom-left"
    # The box's background (its darker quartile: the text's share varies with the clock's
    # digits) is darkened to about a quarter of the picture below it.
    assert np.percentile(box, 25) < np.median(under) / 2, "no darkened box behind the text"
    # Bottom-right: the LIVE badge is tinted red (high V) on a picture with none.
    v_out = np.frombuffer(memoryview(frames[10].planes[2]), np.uint8).reshape(360, -1)[:, :640]
    assert v_out[344:352, 610:630].mean() > 180, "no red LIVE badge bottom-right"


def test_two_rungs_scale_the_same_1080p_frames_at_once(tmp_path: Path) -> None:
    """A drone's 1080p into 720p + 360p: both rung threads scale every frame at the same
    time. (With one scaler shared through frame.reformat() this crashed the process.)"""
    units = access_units(
        make_clip(tmp_path / "hd.mp4", seconds=1.5, size=(1920, 1080), high_bframes=True)
    )
    out = run_transcoder(units, ["720p", "360p"])
    assert {(f.width, f.height) for f in decode(out["720p"])} == {(1280, 720)}
    assert {(f.width, f.height) for f in decode(out["360p"])} == {(640, 360)}
    assert min(len(out["720p"]), len(out["360p"])) >= len(units) - 5
    # Each rung draws the OSD on its own scaled picture, sized for it (1/30 of its height).
    for rung, (width, height) in (("720p", (1280, 720)), ("360p", (640, 360))):
        frame = decode(out[rung])[20]
        y = frame.to_ndarray(format="gray")
        px = max(12, height // 30)
        assert (y[height - 2 * px : height - px // 2, px : 12 * px] > 200).mean() > 0.05, rung
        v = np.frombuffer(memoryview(frame.planes[2]), np.uint8).reshape(height // 2, -1)
        badge = v[(height - 2 * px) // 2 : height // 2, (width - 6 * px) // 2 : width // 2]
        assert badge.max() > 160, f"no red LIVE badge bottom-right of {rung}"  # grey: 128


def test_an_empty_access_unit_does_not_stop_decoding(tmp_path: Path) -> None:
    """A browser publisher's padding probes reassemble to empty units; one of them used to
    drain FFmpeg's decoder for good ("End of file" for every later packet)."""
    units = access_units(make_clip(tmp_path / "c.mp4", seconds=1.5, high_bframes=False))
    middle = len(units) // 2
    units.insert(middle, AccessUnit(b"", pts=units[middle].pts, keyframe=False))
    out = run_transcoder(units, ["360p"])["360p"]
    counters = [m[0] for f in decode(out) if (m := read_marks(f.to_ndarray(format="gray")))]
    assert max(counters) >= len(units) - 8, "decoding stopped at the empty unit"


def test_a_rung_wanted_from_the_start_encodes_every_frame_fed_as_fast_as_it_goes(
    tmp_path: Path,
) -> None:
    """Offline (a file processed at full speed, bench_transcode): the first IDR is decoded as
    it comes, not as a lazy rung's catch-up, which skips the pictures nothing refers to
    and hands on only the newest (bench_transcode saw 41 % of the frames and 8 dB PSNR)."""
    units = access_units(
        make_clip(tmp_path / "b.mp4", seconds=2.0, size=(640, 360), high_bframes=True)
    )
    out: queue.Queue[EncodedPacket] = queue.Queue()
    rung = RungEncoder(
        "t", RUNGS["360p"], 30, publish=out.put, want_keyframe=lambda: False, lossless=True
    )
    transcoder = Transcoder("t", [rung], source_clock=True)
    transcoder.start()
    try:
        for unit in units:
            transcoder.feed_waiting(unit)
        deadline = time.monotonic() + 20
        while rung.frames_out < len(units) - 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        transcoder.close()
    assert transcoder.cold_starts == 0
    assert rung.frames_out >= len(units) - 3, (rung.frames_out, len(units))


def encoding_720p(stream: str, tmp_path: Path) -> tuple[Transcoder, RungEncoder]:
    """A started transcoder with one 720p rung that has encoded a few frames of a real clip
    (x264's threads are up); the caller closes it."""
    units = access_units(make_clip(tmp_path / f"{stream}.mp4", seconds=1.0, size=(1280, 720)))
    out: queue.Queue[EncodedPacket] = queue.Queue()
    encoder = RungEncoder(stream, RUNGS["720p"], 30, publish=out.put, want_keyframe=lambda: False)
    transcoder = Transcoder(stream, [encoder])
    transcoder.start()
    for unit in units:
        transcoder.feed(unit)
    deadline = time.monotonic() + 10
    while encoder.frames_out < 5:
        if time.monotonic() > deadline:
            transcoder.close()
            raise AssertionError(f"{encoder.frames_out} frames encoded in 10 s")
        time.sleep(0.05)
    return transcoder, encoder


def test_the_codec_threads_and_x264s_own_run_nicer_than_the_event_loop(tmp_path: Path) -> None:
    # With codec_nice set, the loop (every viewer's sends) gets a core first (relay.threads).
    set_codec_nice(3)  # read when the encoder and transcoder are made
    try:
        transcoder, _ = encoding_720p("nice", tmp_path)
    finally:
        set_codec_nice(CODEC_NICE)  # the process's setting: later tests get the default
    try:
        base = os.getpriority(os.PRIO_PROCESS, os.getpid())
        nice = nice_by_thread()
        # x264's threads carry the name of the thread that started them.
        encoder_threads = [n for n, _ in cpu_seconds_by_task().values() if n == "enc-720p-nice"]
    finally:
        transcoder.close()
    assert len(encoder_threads) >= 2, encoder_threads  # the encoder's and x264's own
    assert nice["enc-720p-nice"] == {base + 3}, nice
    assert nice["dec-nice"] == {base + 3}, nice


def test_closing_an_encoder_ends_x264s_threads_too(tmp_path: Path) -> None:
    # x264's threads live as long as its context: a closed encoder (still referenced here,
    # as by a stream) must let it go, not leave them parked until the stream is collected.
    transcoder, encoder = encoding_720p("x264end", tmp_path)
    name = "enc-720p-x264en"  # the OS keeps 15 characters
    try:
        assert sum(1 for n, _ in cpu_seconds_by_task().values() if n == name) >= 2
    finally:
        transcoder.close()
    deadline = time.monotonic() + 5
    while any(n == name for n, _ in cpu_seconds_by_task().values()):
        assert time.monotonic() < deadline, "x264's threads outlived the closed encoder"
        time.sleep(0.05)
