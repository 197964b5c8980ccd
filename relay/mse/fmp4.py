"""Fragmented MP4 for Media Source Extensions, written by hand: the few boxes a browser needs.

One init segment (ftyp + moov with the avcC built from the rung's SPS/PPS) per viewer start,
then one fragment (moof + mdat) per frame, so that a picture leaves as soon as it is encoded.
ISO/IEC 14496-12 (boxes) and 14496-15 (avcC). Written by hand rather than through PyAV's mp4
muxer: a fragment is a fixed 108-byte header around the sample (docs/fallback.md has the
measurement). The rungs are Constrained Baseline: decode order is presentation order, so no
composition offsets.
"""

from __future__ import annotations

import struct

from relay.media.h264 import NAL_AUD, NAL_PPS, NAL_SPS, nal_type, split_nal_units

TIMESCALE = 90_000  # the relay's media clock (RTP's for H.264): timestamps go in unchanged
TRACK_ID = 1
# trun sample flags (14496-12 8.8.3.1): a sync sample depends on nothing; others do.
KEY_FLAGS = 0x02000000
DELTA_FLAGS = 0x01010000
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
# moof (8) + mfhd (16) + traf (8) + tfhd (16) + tfdt v1 (20) + trun with one sample (32)
MOOF_SIZE = 100


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags), *payload)


def sample(annexb: bytes) -> bytes:
    """An Annex B access unit as an MP4 sample: each NAL unit behind its 4-byte length.
    Access unit delimiters go; SPS and PPS stay in band (browsers and FFmpeg accept them,
    and a changed SPS still reaches a decoder that missed the new init segment)."""
    parts = []
    for nal in split_nal_units(annexb):
        if nal_type(nal) != NAL_AUD:
            parts.append(struct.pack(">I", len(nal)))
            parts.append(nal)
    return b"".join(parts)


def parameter_sets(annexb: bytes) -> tuple[bytes, bytes] | None:
    """The first SPS and PPS of an access unit (an IDR of a rung carries both), or None."""
    sps = pps = None
    for nal in split_nal_units(annexb):
        kind = nal_type(nal)
        if kind == NAL_SPS and sps is None:
            sps = nal
        elif kind == NAL_PPS and pps is None:
            pps = nal
    return (sps, pps) if sps and pps and len(sps) >= 4 else None


def codec_string(sps: bytes) -> str:
    """The MSE codec string: avc1.PPCCLL from the SPS's profile, constraints and level."""
    return "avc1." + sps[1:4].hex()


def init_segment(sps: bytes, pps: bytes, width: int, height: int) -> bytes:
    """ftyp + moov of one H.264 video track on the 90 kHz clock, no samples (all in moofs)."""
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso6avc1mp41")
    mvhd = full_box(
        b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, 0), struct.pack(">IH", 0x10000, 0x100),
        bytes(10), _MATRIX, bytes(24), struct.pack(">I", TRACK_ID + 1),
    )  # fmt: skip
    tkhd = full_box(
        b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, TRACK_ID, 0, 0), bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"drone-relay\x00")
    avcc = box(
        b"avcC", bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]), struct.pack(">H", len(sps)),
        sps, b"\x01", struct.pack(">H", len(pps)), pps,
    )  # fmt: skip
    avc1 = box(
        b"avc1", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", width, height),
        struct.pack(">II", 0x480000, 0x480000), bytes(4), struct.pack(">H", 1), bytes(32),
        struct.pack(">Hh", 0x18, -1), avcc,
    )  # fmt: skip
    empty = struct.pack(">I", 0)
    stbl = box(
        b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        full_box(b"stts", 0, 0, empty), full_box(b"stsc", 0, 0, empty),
        full_box(b"stsz", 0, 0, empty, empty), full_box(b"stco", 0, 0, empty),
    )  # fmt: skip
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    minf = box(b"minf", full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    trex = full_box(b"trex", 0, 0, struct.pack(">IIIII", TRACK_ID, 1, 0, 0, 0))
    return ftyp + box(b"moov", mvhd, trak, box(b"mvex", trex))


def fragment_header(
    sequence: int, decode_time: int, duration: int, keyframe: bool, size: int
) -> bytes:
    """moof + the mdat header for one sample of `size` bytes; the sample follows it."""
    trun = full_box(
        b"trun", 0, 0x000701, struct.pack(">IiII", 1, MOOF_SIZE + 8, duration, size),
        struct.pack(">I", KEY_FLAGS if keyframe else DELTA_FLAGS),
    )  # fmt: skip
    traf = box(
        b"traf", full_box(b"tfhd", 0, 0x020000, struct.pack(">I", TRACK_ID)),
        full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time)), trun,
    )  # fmt: skip
    moof = box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence & 0xFFFFFFFF)), traf)
    return moof + struct.pack(">I4s", 8 + size, b"mdat")
