"""Segments keep the drone's own bytes with valid MP4 timing, and survive a torn tail."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import pytest

from relay.media.access_unit import AccessUnit
from relay.media.frame_marks import read_marks
from relay.media.h264 import split_nal_units
from relay.recording.dts import DtsClock
from relay.recording.recorder import frame_size
from relay.recording.recovery import complete_length, truncate_to_complete
from relay.recording.segment import SegmentWriter, probe
from tests.media_gen import access_units, make_clip


def record(units: list[AccessUnit], path: Path) -> SegmentWriter:
    clock = DtsClock()
    writer = SegmentWriter(path, units[0], *frame_size(units[0]))
    for unit in units:
        for u, dts in clock.push(unit):
            writer.write(u, dts)
    for u, dts in clock.flush():
        writer.write(u, dts)
    writer.close()
    return writer


def counters(path: Path) -> list[int]:
    found = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            marks = read_marks(frame.to_ndarray(format="gray"))
            assert marks is not None, "a damaged picture"
            found.append(marks[0])
    return found


@pytest.mark.parametrize("bframes", [True, False])
def test_original_bitstream_with_valid_timing(tmp_path: Path, bframes: bool) -> None:
    units = access_units(make_clip(tmp_path / "in.mp4", seconds=3, high_bframes=bframes))
    reordered = any(b.pts < a.pts for a, b in zip(units, units[1:], strict=False))
    assert reordered == bframes
    writer = record(units, tmp_path / "seg.mp4")
    assert writer.stats.frames == len(units) == 90
    # Every frame plays, in presentation order, none lost or doubled.
    assert counters(tmp_path / "seg.mp4") == list(range(90))
    frames, duration = probe(tmp_path / "seg.mp4")
    assert frames == 90 and abs(duration - 3.0) < 0.05
    # The samples are the drone's NAL units, byte for byte (only the framing differs).
    with av.open(str(tmp_path / "seg.mp4")) as container:
        stream = container.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        stored = [
            bytes(p)
            for packet in container.demux(stream)
            if packet.size
            for p in bsf.filter(packet)
        ]
    assert len(stored) == len(units)
    for unit, data in zip(units, stored, strict=True):
        assert list(split_nal_units(unit.data)) == list(split_nal_units(data))


def test_torn_tail_is_cut_to_the_last_complete_fragment(tmp_path: Path) -> None:
    units = access_units(make_clip(tmp_path / "in.mp4", seconds=3, high_bframes=False))
    record(units, tmp_path / "seg.mp4")
    whole = (tmp_path / "seg.mp4").stat().st_size
    assert complete_length(tmp_path / "seg.mp4") == whole
    for fraction in (0.2, 0.5, 0.77, 0.99):
        torn = tmp_path / f"torn-{fraction}.mp4"
        shutil.copy(tmp_path / "seg.mp4", torn)
        with open(torn, "r+b") as f:
            f.truncate(int(whole * fraction))
        before, after = truncate_to_complete(torn)
        assert after < before
        frames, _ = probe(torn)
        # One fragment per 1 s GOP: what is left is whole GOPs, and all of it decodes.
        assert frames % 30 == 0 and frames <= 90 * fraction + 1
        assert counters(torn) == list(range(frames))
