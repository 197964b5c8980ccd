"""The transcoder's lazy side on real encoded input: nothing decoded (but the IDR's picture,
once) or encoded while no rung is wanted, a cold start shows the kept IDR's picture as a
still at once, then hands on only the newest picture of the kept units."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import av

from relay.config import RUNGS
from relay.media.access_unit import AccessUnit
from relay.media.frame_marks import read_marks
from relay.media.packet import EncodedPacket
from relay.transcode.encoder import RungEncoder
from relay.transcode.gop import GopBuffer, is_reference
from relay.transcode.transcoder import Transcoder
from tests.media_gen import access_units, make_clip
from tests.transcode.test_transcoder import decode
from tests.whep_client import badge_u


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_cold_start_shows_the_idr_as_a_still_then_only_the_newest_picture(
    tmp_path: Path,
) -> None:
    # High profile with B-frames, one IDR per 60 frames: a cold start at frame 50 has 50
    # units to decode, some of them pictures nothing refers to.
    units = access_units(make_clip(tmp_path / "b.mp4", seconds=2.0, gop=60, high_bframes=True))
    assert not all(is_reference(u.data) for u in units), "the clip needs non-reference B-frames"
    wanted = {"on": False}
    out: queue.Queue[EncodedPacket] = queue.Queue()
    encoder = RungEncoder(
        "test",
        RUNGS["360p"],
        30,
        publish=out.put,
        want_keyframe=lambda: False,
        wanted=lambda: wanted["on"],
    )
    transcoder = Transcoder("test", [encoder])
    transcoder.start()
    try:
        for unit in units[:50]:
            transcoder.feed(unit)
            time.sleep(0.005)
        time.sleep(0.3)
        # Nobody watches: nothing decoded but the IDR's picture for a still (once, not per
        # unit), nothing encoded, no slate either.
        assert transcoder.frames_decoded == 0 and encoder.frames_in == 0
        assert transcoder.stills_decoded_ahead == 1
        assert not encoder.running and not transcoder.decoding
        # What the still's encoder has out when the catch-up decodes its first unit, and
        # every decoding of an IDR apart (ahead or at the join).
        out_at_catch_up: list[int] = []
        decode_frames = transcoder._decode_frames
        decode_alone = transcoder._decode_alone
        apart: list[AccessUnit] = []

        def noting_decode_alone(idr: AccessUnit) -> av.VideoFrame | None:
            apart.append(idr)
            return decode_alone(idr)

        def noting_decode_frames(unit: AccessUnit, prompt: bool = False) -> list[av.VideoFrame]:
            out_at_catch_up.append(encoder.frames_out)
            return decode_frames(unit, prompt)

        transcoder._decode_frames = noting_decode_frames  # type: ignore[method-assign]
        transcoder._decode_alone = noting_decode_alone  # type: ignore[method-assign]
        wanted["on"] = True
        transcoder.wake()
        _wait(lambda: transcoder.cold_start_ms.count == 1, 10, "the cold start")
        time.sleep(0.3)
        assert transcoder.cold_starts == 1 and transcoder.cold_start_skipped > 0
        assert transcoder.cold_start_stills == 1
        # The still was the picture decoded ahead (not decoded again), and it was encoded
        # before the catch-up took the cores.
        assert transcoder.stills_decoded_ahead == 1 and apart == [], len(apart)
        assert out_at_catch_up[0] >= 1, out_at_catch_up[:3]
        # The catch-up decoded every reference picture, not the pictures nothing refers to.
        assert transcoder.frames_decoded < 50
        packets = [out.get() for _ in range(out.qsize())]
        assert packets[0].keyframe, "a joining viewer's first frame is an IDR"
        # Flagged, so that a viewer moving here from a live rung does not start on it.
        assert packets[0].still and not packets[-1].still
        frames = decode(packets)
        counters = [read_marks(f.to_ndarray(format="gray")) for f in frames]
        assert None not in counters, counters
        # The still (the kept IDR's picture, repeated while the catch-up decodes), then the
        # newest picture the decoder gave out: B-frame reordering holds back <= 3.
        *still, newest = [marks[0] for marks in counters if marks is not None]
        assert still and set(still) == {0}, counters
        assert 46 <= newest <= 49, counters
        # The OSD's badge (bottom right) is amber on the still (low U), red when live.
        # Amber reads about 40, red about 90 (79.6 was seen once after an encoder's first
        # seconds), no badge about 128: the bands keep each one apart from the other two.
        still_u, live_u = badge_u(frames[0]), badge_u(frames[-1])
        assert still_u < 60 and 70 < live_u < 110, ("the still's badge", still_u, live_u)
        for unit in units[50:]:  # live again: every unit decoded and encoded
            transcoder.feed(unit)
            time.sleep(0.005)
        _wait(lambda: encoder.frames_out >= 1 + len(units) - 50 - 3, 10, "live frames")
        wanted["on"] = False
        transcoder.feed(units[0])  # the next unit finds no rung wanted
        _wait(lambda: not encoder.running and not transcoder.decoding, 5, "the rung to pause")
    finally:
        transcoder.close()


def test_the_slate_reaches_a_wanted_rung_only() -> None:
    wanted = {"on": False}
    out: queue.Queue[EncodedPacket] = queue.Queue()
    encoder = RungEncoder(
        "test", RUNGS["360p"], 30, out.put, lambda: False, wanted=lambda: wanted["on"]
    )
    transcoder = Transcoder("test", [encoder])
    transcoder.start()
    try:
        time.sleep(1.5)  # the signal counts as lost after 1 s
        assert transcoder.slate_frames == 0 and out.empty()
        wanted["on"] = True
        _wait(lambda: out.qsize() >= 3, 10, "slate frames")
        assert out.get().keyframe and transcoder.slate_frames >= 3
    finally:
        transcoder.close()


def test_the_gop_buffer_starts_at_an_idr_and_is_bounded(tmp_path: Path) -> None:
    units = access_units(make_clip(tmp_path / "c.mp4", seconds=1.0, gop=10, high_bframes=False))
    gop = GopBuffer()
    for unit in units[1:5]:  # no IDR yet: nothing to start from
        gop.add(unit)
    assert gop.units == []
    for unit in units[:15]:
        gop.add(unit)
    assert gop.units == units[10:15] and gop.units[0].keyframe
    assert gop.bytes == sum(len(u.data) for u in units[10:15])


def test_idle_decoding_keeps_the_references_and_starts_on_the_newest_at_once(
    tmp_path: Path,
) -> None:
    units = access_units(make_clip(tmp_path / "i.mp4", seconds=2.0, gop=60, high_bframes=True))
    references = sum(is_reference(u.data) for u in units[:50])
    assert references < 50, "the clip needs non-reference B-frames"
    wanted = {"on": False}
    out: queue.Queue[EncodedPacket] = queue.Queue()
    encoder = RungEncoder(
        "test", RUNGS["360p"], 30, out.put, lambda: False, wanted=lambda: wanted["on"]
    )
    transcoder = Transcoder("test", [encoder], idle_decode=True)
    transcoder.start()
    try:
        for unit in units[:50]:
            transcoder.feed(unit)
            time.sleep(0.005)
        _wait(lambda: transcoder.decode_ms.count >= references, 10, "the idle decoding")
        # Nobody watches: the reference pictures are decoded, nothing is encoded.
        assert transcoder.decode_ms.count == references and encoder.frames_in == 0
        assert not encoder.running and transcoder.decoding
        decoded = transcoder.decode_ms.count
        wanted["on"] = True
        transcoder.wake()
        _wait(lambda: out.qsize() >= 1, 10, "the newest picture")
        time.sleep(0.2)
        # Handed on without decoding anything more: the newest picture was ready.
        assert out.qsize() == 1 and transcoder.decode_ms.count == decoded
        assert transcoder.cold_starts == 1
        first = out.get()
        assert first.keyframe, "a joining viewer's first frame is an IDR"
        (frame,) = decode([first])
        marks = read_marks(frame.to_ndarray(format="gray"))
        assert marks is not None
        # The newest reference picture out of the decoder: reordering holds back a few.
        assert 44 <= marks[0] <= 49, marks
        for unit in units[50:]:  # live: every unit decoded and encoded
            transcoder.feed(unit)
            time.sleep(0.005)
        _wait(lambda: encoder.frames_out >= 1 + len(units) - 50 - 3, 10, "live frames")
    finally:
        transcoder.close()


def test_idle_decoding_hands_on_nothing_from_before_a_gap(tmp_path: Path) -> None:
    units = access_units(make_clip(tmp_path / "g.mp4", seconds=1.0, gop=30, high_bframes=True))
    wanted = {"on": False}
    out: queue.Queue[EncodedPacket] = queue.Queue()
    encoder = RungEncoder(
        "test", RUNGS["360p"], 30, out.put, lambda: False, wanted=lambda: wanted["on"]
    )
    transcoder = Transcoder("test", [encoder], idle_decode=True)
    transcoder.start()
    try:
        for unit in units[:20]:
            transcoder.feed(unit)
            time.sleep(0.005)
        time.sleep(1.3)  # the input stops: the kept picture is no longer live
        wanted["on"] = True
        transcoder.feed(units[20])  # the input resumes without an IDR
        _wait(lambda: out.qsize() >= 1, 10, "a live picture")
        time.sleep(0.2)
        frames = decode([out.get() for _ in range(out.qsize())])
        marks = read_marks(frames[0].to_ndarray(format="gray"))
        assert marks is not None and marks[0] >= 17, marks  # not the kept picture (<= 16)
        assert transcoder.cold_starts == 0
    finally:
        transcoder.close()


def test_an_idr_that_does_not_decode_is_tried_once_while_idle(tmp_path: Path) -> None:
    # A broken drone: its IDR is noise behind an IDR slice header. The still decoded ahead
    # must not turn into a full decode attempt for every unit after it.
    units = access_units(make_clip(tmp_path / "n.mp4", seconds=1.0, gop=30, high_bframes=False))
    broken = AccessUnit(b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 40, pts=0, keyframe=True)
    encoder = RungEncoder(
        "test", RUNGS["360p"], 30, lambda p: None, lambda: False, wanted=lambda: False
    )
    transcoder = Transcoder("test", [encoder])
    tries: list[AccessUnit] = []
    decode_alone = transcoder._decode_alone

    def counting_decode_alone(idr: AccessUnit) -> av.VideoFrame | None:
        tries.append(idr)
        return decode_alone(idr)

    transcoder._decode_alone = counting_decode_alone  # type: ignore[method-assign]
    transcoder.start()
    try:
        transcoder.feed(broken)
        for unit in units[1:20]:
            transcoder.feed(unit)
        transcoder.feed(units[0])  # a good IDR: its picture is decoded ahead
        _wait(lambda: transcoder.stills_decoded_ahead == 1, 5, "the good IDR's picture")
        assert len(tries) == 2 and tries[0] is broken and tries[1] is units[0], len(tries)
        assert encoder.frames_in == 0 and transcoder.frames_decoded == 0
    finally:
        transcoder.close()
