"""The picture size an H.264 SPS declares (ITU-T H.264 7.3.2.1.1, cropping 7.4.2.1.1): the
init segment's avc1 entry and track header carry it."""

from __future__ import annotations

from relay.media.sps import HIGH_PROFILES, _Bits, _rbsp, _scaling_lists


def picture_size(sps: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels after cropping, or None for an SPS that cannot be read."""
    try:
        return _size(_Bits(_rbsp(sps)))
    except (IndexError, ValueError):
        return None


def _size(bits: _Bits) -> tuple[int, int]:
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma = 1
    if profile in HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            bits.u(1)
        bits.ue(), bits.ue(), bits.u(1)
        if bits.u(1):
            _scaling_lists(bits, 12 if chroma == 3 else 8)
    bits.ue()  # log2_max_frame_num
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1), bits.se(), bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue(), bits.u(1)
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
