"""A picture that changes nothing: one P slice whose every macroblock is skipped, coded
with CAVLC under a picture parameter set of its own, never used for reference
(nal_ref_idc 0). Decoding it copies the newest reference picture; nothing the stream's own
pictures refer to changes (ITU-T H.264 7.3.2.2, 7.3.3, 7.3.4)."""

from __future__ import annotations

from relay.media.bits import BitWriter
from relay.media.slice_header import SeqParams

START_CODE = b"\x00\x00\x00\x01"
_PPS_HEADER = 0x68  # nal_ref_idc 3, type 8
_SLICE_HEADER = 0x01  # nal_ref_idc 0, type 1 (non-IDR slice)
_SLICE_TYPE_P = 0


def skip_pps(pps_id: int, sps_id: int) -> bytes:
    w = BitWriter()
    w.ue(pps_id)
    w.ue(sps_id)
    w.u(1, 0)  # entropy_coding_mode_flag: CAVLC, so a skip run is one Exp-Golomb code
    w.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    w.ue(0)  # num_slice_groups_minus1
    w.ue(0)  # num_ref_idx_l0_default_active_minus1
    w.ue(0)  # num_ref_idx_l1_default_active_minus1
    w.u(1, 0)  # weighted_pred_flag
    w.u(2, 0)  # weighted_bipred_idc
    w.se(0)  # pic_init_qp_minus26
    w.se(0)  # pic_init_qs_minus26
    w.se(0)  # chroma_qp_index_offset
    w.u(1, 1)  # deblocking_filter_control_present_flag: so the slice can turn it off
    w.u(1, 0)  # constrained_intra_pred_flag
    w.u(1, 0)  # redundant_pic_cnt_present_flag
    return w.nal(_PPS_HEADER)


def skip_slice(seq: SeqParams, pps_id: int, frame_num: int, poc_lsb: int) -> bytes:
    w = BitWriter()
    w.ue(0)  # first_mb_in_slice
    w.ue(_SLICE_TYPE_P)
    w.ue(pps_id)
    if seq.separate_colour_planes:
        w.u(2, 0)
    w.u(seq.log2_max_frame_num, frame_num)
    w.u(seq.log2_max_poc_lsb, poc_lsb)
    w.u(1, 0)  # num_ref_idx_active_override_flag
    w.u(1, 0)  # ref_pic_list_modification_flag_l0
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc: nothing to filter in a copy
    w.ue(seq.macroblocks)  # mb_skip_run: the whole picture
    return w.nal(_SLICE_HEADER)


def skip_picture(seq: SeqParams, pps_id: int, frame_num: int, poc_lsb: int) -> bytes:
    """Annex B: the PPS, then the slice (the PPS travels with each picture, so it always
    refers to the SPS now in force)."""
    pps = skip_pps(pps_id, seq.sps_id)
    return START_CODE + pps + START_CODE + skip_slice(seq, pps_id, frame_num, poc_lsb)
