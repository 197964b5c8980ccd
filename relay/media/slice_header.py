"""What a picture's order count depends on: the few SPS, PPS and slice header fields that
say where a picture falls in display order (ITU-T H.264 7.3.2.1.1, 7.3.2.2, 7.3.3, 8.2.1).
Only what that needs is read; anything else returns None (the caller then does nothing
special with the stream)."""

from __future__ import annotations

from dataclasses import dataclass

from relay.media.bits import BitReader, unescape
from relay.media.sps import read_head

# Every slice header field up to delta_pic_order_cnt_bottom fits in this many bytes (at
# most about 25), emulation prevention included: a caller need not copy a whole slice.
SLICE_HEADER_BYTES = 48


@dataclass(frozen=True, slots=True)
class SeqParams:
    sps_id: int
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int  # 0 unless poc_type is 0
    frame_mbs_only: bool
    macroblocks: int  # PicSizeInMbs of a frame
    separate_colour_planes: bool


@dataclass(frozen=True, slots=True)
class PicParams:
    pps_id: int
    sps_id: int
    bottom_poc_present: bool  # bottom_field_pic_order_in_frame_present_flag


@dataclass(frozen=True, slots=True)
class SliceHeader:
    pps_id: int
    frame_num: int
    idr: bool
    reference: bool  # nal_ref_idc != 0
    poc_lsb: int
    delta_bottom: int
    decode_order: bool = False  # POC type 2: shown in decoding order, nothing reordered


def read_sps(nal: bytes) -> SeqParams | None:
    try:
        bits = BitReader(unescape(nal))
        profile = bits.u(8)
        bits.u(16)  # constraint flags, level
        head = read_head(bits, profile)
        width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
        frame_mbs_only = bool(bits.u(1))
    except (IndexError, ValueError):
        return None
    if head.sps_id > 31 or not 4 <= head.log2_max_frame_num <= 16 or head.poc_type > 2:
        return None
    return SeqParams(
        head.sps_id,
        head.log2_max_frame_num,
        head.poc_type,
        head.log2_max_poc_lsb,
        frame_mbs_only,
        width_mbs * height_units * (2 - frame_mbs_only),
        head.separate_colour_planes,
    )


def read_pps(nal: bytes) -> PicParams | None:
    try:
        bits = BitReader(unescape(nal))
        pps_id, sps_id = bits.ue(), bits.ue()
        bits.u(1)  # entropy_coding_mode_flag
        bottom = bool(bits.u(1))
    except (IndexError, ValueError):
        return None
    if pps_id > 255 or sps_id > 31:
        return None
    return PicParams(pps_id, sps_id, bottom)


def read_slice_header(
    nal: bytes, pps: dict[int, PicParams], sps: dict[int, SeqParams]
) -> SliceHeader | None:
    """The fields of a frame's slice header up to its order count, or None when the slice
    refers to parameter sets not seen, or is a field (fields are not handled)."""
    try:
        bits = BitReader(unescape(nal[:SLICE_HEADER_BYTES]))
        bits.ue()  # first_mb_in_slice
        bits.ue()  # slice_type
        pps_id = bits.ue()
        pic = pps.get(pps_id)
        seq = None if pic is None else sps.get(pic.sps_id)
        if pic is None or seq is None or not seq.frame_mbs_only or seq.poc_type == 1:
            return None
        if seq.separate_colour_planes:
            bits.u(2)
        frame_num = bits.u(seq.log2_max_frame_num)
        idr = nal[0] & 0x1F == 5
        if seq.poc_type == 2:
            return SliceHeader(pps_id, frame_num, idr, nal[0] >> 5 != 0, 0, 0, decode_order=True)
        if idr:
            bits.ue()  # idr_pic_id
        poc_lsb = bits.u(seq.log2_max_poc_lsb)
        delta_bottom = bits.se() if pic.bottom_poc_present else 0
    except (IndexError, ValueError):
        return None
    return SliceHeader(pps_id, frame_num, idr, nal[0] >> 5 != 0, poc_lsb, delta_bottom)
