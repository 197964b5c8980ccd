"""What an H.264 SPS says about frame reordering: can the stream hold B-frames at all?

For sources without a decode timestamp (RTP), pts that step back are either B-frames or a
drone's jitter (go2rtc #1969). The SPS settles it when it can: Baseline and Constrained
Baseline have no B-frames, and the VUI's bitstream_restriction carries max_num_reorder_frames
(0: pictures come out in decode order). ITU-T H.264 7.3.2.1.1 and E.1.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay.media.access_unit import AccessUnit
from relay.media.bits import BitReader, unescape
from relay.media.h264 import first_sps

HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def _skip_scaling_lists(bits: BitReader, count: int) -> None:
    """Reads past an SPS's (or PPS's) scaling lists (7.3.2.1.1.1)."""
    for i in range(count):
        if bits.u(1):
            last = nxt = 8
            for _ in range(16 if i < 6 else 64):
                if nxt:
                    nxt = (last + bits.se() + 256) % 256
                last = nxt or last


def _hrd(bits: BitReader) -> None:
    count = bits.ue() + 1
    bits.u(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(count):
        bits.ue(), bits.ue(), bits.u(1)
    bits.u(20)


@dataclass(frozen=True, slots=True)
class SpsHead:
    """The SPS fields before the picture size (7.3.2.1.1)."""

    sps_id: int
    chroma_format_idc: int
    separate_colour_planes: bool
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int  # 0 unless poc_type is 0


def read_head(bits: BitReader, profile: int) -> SpsHead:
    """Reads from seq_parameter_set_id up to the picture size."""
    sps_id = bits.ue()
    chroma, separate = 1, False
    if profile in HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            separate = bool(bits.u(1))
        bits.ue(), bits.ue(), bits.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if bits.u(1):
            _skip_scaling_lists(bits, 12 if chroma == 3 else 8)
    log2_max_frame_num = bits.ue() + 4
    poc_type = bits.ue()
    log2_max_poc_lsb = 0
    if poc_type == 0:
        log2_max_poc_lsb = bits.ue() + 4
    elif poc_type == 1:
        bits.u(1), bits.se(), bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue(), bits.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    return SpsHead(sps_id, chroma, separate, log2_max_frame_num, poc_type, log2_max_poc_lsb)


def picture_size(sps: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels after cropping (7.4.2.1.1), or None for an SPS that cannot
    be read: an MSE init segment's avc1 entry and track header carry it."""
    try:
        return _size(BitReader(unescape(sps)))
    except (IndexError, ValueError):
        return None


def _size(bits: BitReader) -> tuple[int, int]:
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    chroma = read_head(bits, profile).chroma_format_idc
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)
    bits.u(1)
    width, height = width_mbs * 16, height_units * 16 * (2 - frame_mbs_only)
    if bits.u(1):  # frame cropping, in chroma samples (4:2:0: two pixels each way)
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        crop_x = 1 if chroma in (0, 3) else 2
        crop_y = (1 if chroma in (0, 2, 3) else 2) * (2 - frame_mbs_only)
        width -= (left + right) * crop_x
        height -= (top + bottom) * crop_y
    return width, height


def max_reorder(sps: bytes) -> int | None:
    """Pictures the decoder may hold for reordering: 0 for no B-frames, None when the SPS
    does not say (no VUI bitstream restriction) or cannot be read."""
    try:
        return _max_reorder(BitReader(unescape(sps)))
    except (IndexError, ValueError):
        return None


def _max_reorder(bits: BitReader) -> int | None:
    profile = bits.u(8)
    constraints = bits.u(8)
    bits.u(8)  # level
    if profile == 66 or (profile == 77 and constraints & 0x40 and constraints & 0x10):
        return 0  # Baseline (and Main constrained to Baseline's tools): no B slices
    read_head(bits, profile)
    bits.ue(), bits.ue()  # width, height in macroblocks
    if not bits.u(1):  # frame_mbs_only
        bits.u(1)
    bits.u(1)  # direct_8x8_inference
    if bits.u(1):  # frame cropping
        bits.ue(), bits.ue(), bits.ue(), bits.ue()
    if not bits.u(1):  # vui_parameters_present
        return None
    if bits.u(1) and bits.u(8) == 255:  # aspect_ratio_info, Extended_SAR
        bits.u(32)
    if bits.u(1):  # overscan_info
        bits.u(1)
    if bits.u(1):  # video_signal_type
        bits.u(4)
        if bits.u(1):
            bits.u(24)
    if bits.u(1):  # chroma_loc_info
        bits.ue(), bits.ue()
    if bits.u(1):  # timing_info
        bits.u(32), bits.u(32), bits.u(1)
    nal_hrd = bits.u(1)
    if nal_hrd:
        _hrd(bits)
    vcl_hrd = bits.u(1)
    if vcl_hrd:
        _hrd(bits)
    if nal_hrd or vcl_hrd:
        bits.u(1)  # low_delay_hrd
    bits.u(1)  # pic_struct_present
    if not bits.u(1):  # bitstream_restriction
        return None
    bits.u(1)
    for _ in range(4):
        bits.ue()  # max_bytes_per_pic_denom … log2_max_mv_length_vertical
    return bits.ue()  # max_num_reorder_frames


class ReorderDetector:
    """Says whether a source sends B-frames, from what says so: a pts other than the
    container's dts (FLV composition time, MPEG-TS), else the SPS (Baseline, or VUI
    max_num_reorder_frames 0: never). Only a source with neither falls back to pts order."""

    def __init__(self) -> None:
        self._sps: bytes | None = None
        self._sps_reorder: int | None = None
        self._last_pts: int | None = None

    def reorders(self, unit: AccessUnit) -> bool:
        """True when this unit shows B-frames; call with every unit in order."""
        if unit.keyframe:
            sps = first_sps(unit.data)
            if sps is not None and sps != self._sps:
                self._sps, self._sps_reorder = sps, max_reorder(sps)
        last, self._last_pts = self._last_pts, unit.pts
        if unit.dts is not None:
            return unit.pts != unit.dts
        if self._sps_reorder == 0:
            return False  # pts stepping back is jitter (go2rtc #1969): repaired, not B-frames
        return last is not None and unit.pts < last
