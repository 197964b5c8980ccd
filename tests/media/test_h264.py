"""Annex B repair: vendor SEI goes, SPS/PPS come back in front of every IDR."""

from __future__ import annotations

from relay.media.h264 import AnnexBRepair, nal_type, split_nal_units

SC = b"\x00\x00\x00\x01"
SPS, PPS = b"\x67\x42\xc0\x1f\xaa", b"\x68\xce\x3c\x80"
IDR, SLICE = b"\x65\x88\x84\x00", b"\x41\x9a\x02"
DJI_SEI = b"\x06\x05\x10" + b"\x11" * 16 + b"\x80"
SEI_RECOVERY = b"\x06\x06\x01\xc4\x80"


def test_split_handles_3_and_4_byte_start_codes() -> None:
    data = SC + SPS + b"\x00\x00\x01" + PPS + SC + IDR
    assert list(split_nal_units(data)) == [SPS, PPS, IDR]


def test_vendor_sei_dropped_other_sei_kept() -> None:
    repair = AnnexBRepair()
    out, key = repair.repair(SC + DJI_SEI + SC + SEI_RECOVERY + SC + SLICE)
    assert not key
    assert [nal_type(n) for n in split_nal_units(out)] == [6, 1]
    assert repair.dropped_sei == 1


def test_parameter_sets_restored_before_idr() -> None:
    repair = AnnexBRepair()
    first, key = repair.repair(SC + SPS + SC + PPS + SC + IDR)
    assert key and first == SC + SPS + SC + PPS + SC + IDR  # untouched when complete
    later, key = repair.repair(SC + IDR)
    assert key and list(split_nal_units(later)) == [SPS, PPS, IDR]
    plain, key = repair.repair(SC + SLICE)
    assert not key and plain == SC + SLICE


def test_parameter_sets_from_avcc_and_annexb_extradata() -> None:
    from relay.media.h264 import parameter_sets

    avcc = (
        bytes([1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1, 0, len(SPS)]) + SPS + bytes([1, 0, len(PPS)]) + PPS
    )
    assert parameter_sets(avcc) == [SPS, PPS]
    assert parameter_sets(SC + SPS + SC + PPS) == [SPS, PPS]
    assert parameter_sets(avcc[:9]) == []  # truncated: nothing half-read
    repair = AnnexBRepair()
    repair.seed(avcc)
    out, key = repair.repair(SC + IDR)  # an IDR with no parameter sets in band
    assert key and list(split_nal_units(out)) == [SPS, PPS, IDR]
