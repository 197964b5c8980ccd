"""Bit reading and writing, and the order-count fields of real x264 parameter sets and
slices (relay.media.bits, relay.media.slice_header, relay.media.skip_picture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.media.bits import BitReader, BitWriter, escape, unescape
from relay.media.h264 import NAL_PPS, NAL_SPS, nal_type, split_nal_units
from relay.media.skip_picture import skip_pps, skip_slice
from relay.media.slice_header import read_pps, read_slice_header, read_sps
from tests.media_gen import access_units, make_clip


def test_exp_golomb_codes_round_trip() -> None:
    w = BitWriter()
    values = [0, 1, 2, 7, 254, 8160, 65535]
    for v in values:
        w.ue(v)
    for v in (0, 1, -1, 26, -26):
        w.se(v)
    w.u(5, 19)
    bits = BitReader(unescape(w.nal(0x01)))
    assert [bits.ue() for _ in values] == values
    assert [bits.se() for _ in range(5)] == [0, 1, -1, 26, -26]
    assert bits.u(5) == 19
    assert bits.u(1) == 1  # the stop bit


@pytest.mark.parametrize(
    ("rbsp", "nal"),
    [
        (b"\x00\x00\x00", b"\x00\x00\x03\x00"),
        (b"\x00\x00\x01\x00\x00\x02", b"\x00\x00\x03\x01\x00\x00\x03\x02"),
        (b"\x00\x00\x04", b"\x00\x00\x04"),
        (b"\x00\x00\x00\x00", b"\x00\x00\x03\x00\x00"),
    ],
)
def test_emulation_prevention(rbsp: bytes, nal: bytes) -> None:
    assert escape(rbsp) == nal
    assert unescape(b"\x01" + nal) == rbsp


def test_x264_parameter_sets_and_slices(tmp_path: Path) -> None:
    units = access_units(make_clip(tmp_path / "c.mp4", 1.0, (320, 240), gop=30))
    nals = list(split_nal_units(units[0].data))
    seq = read_sps(next(n for n in nals if nal_type(n) == NAL_SPS))
    pic = read_pps(next(n for n in nals if nal_type(n) == NAL_PPS))
    assert seq is not None and pic is not None
    assert (seq.poc_type, seq.frame_mbs_only, seq.macroblocks) == (0, True, 20 * 15)
    assert pic.sps_id == seq.sps_id and not pic.bottom_poc_present
    sps, pps = {seq.sps_id: seq}, {pic.pps_id: pic}
    lsbs = []
    for unit in units[:7]:
        nal = next(n for n in split_nal_units(unit.data) if nal_type(n) in (1, 5))
        header = read_slice_header(nal, pps, sps)
        assert header is not None
        lsbs.append(header.poc_lsb)
    # x264 counts two per frame; the pts order is the order-count order.
    assert lsbs[0] == 0 and all(v % 2 == 0 for v in lsbs)
    by_pts = [unit.pts for unit in units[:7]]
    assert sorted(range(7), key=lambda i: lsbs[i]) == sorted(range(7), key=lambda i: by_pts[i])
    # A skip picture's own PPS and slice read back as written.
    own = read_pps(skip_pps(7, seq.sps_id))
    assert own is not None and (own.pps_id, own.sps_id) == (7, seq.sps_id)
    header = read_slice_header(skip_slice(seq, 7, 3, 11), {**pps, 7: own}, sps)
    assert header is not None
    assert (header.pps_id, header.frame_num, header.poc_lsb, header.reference) == (7, 3, 11, False)
