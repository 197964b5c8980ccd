"""Seed media: H.264 access units of the sim scene (Annex B and AVCC), and a minimal
MPEG-TS muxer so that a mutated access unit (or mutated TS) can be sent as a drone would."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from tests.media_gen import access_units, make_clip

TS = 188
PMT_PID, VIDEO_PID = 0x1000, 0x100


@functools.cache
def seed_units() -> tuple[tuple[bytes, bool], ...]:
    """One second of 320x180 High profile with B-frames: (Annex B, keyframe) per unit."""
    with tempfile.TemporaryDirectory(prefix="fuzz-seed-") as folder:
        clip = make_clip(Path(folder) / "seed.mp4", seconds=1.0, size=(320, 180), gop=15)
        return tuple((au.data, au.keyframe) for au in access_units(clip))


def nal_units(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit, without start codes."""
    out, i, start = [], 0, -1
    while True:
        j = annexb.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        if start >= 0:
            out.append(annexb[start:j].rstrip(b"\x00"))
        start = i = j + 3
    if start >= 0:
        out.append(annexb[start:])
    return [n for n in out if n]


def nal_starts(annexb: bytes) -> list[int]:
    """Offsets of the first byte of every NAL unit (its header) in an Annex B unit."""
    starts, i = [], 0
    while (j := annexb.find(b"\x00\x00\x01", i)) >= 0:
        starts.append(j + 3)
        i = j + 3
    return starts


def avcc(annexb: bytes) -> bytes:
    """4-byte length-prefixed NAL units, as FLV (and MP4) carry them."""
    return b"".join(len(n).to_bytes(4, "big") + n for n in nal_units(annexb))


def avc_config(annexb: bytes) -> bytes:
    """An AVCDecoderConfigurationRecord from a keyframe's SPS and PPS."""
    nals = nal_units(annexb)
    sps = next(n for n in nals if n[0] & 0x1F == 7)
    pps = next(n for n in nals if n[0] & 0x1F == 8)
    return (
        bytes((1, sps[1], sps[2], sps[3], 0xFF, 0xE1))
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


# --- MPEG-TS ---------------------------------------------------------------------------


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _section(table_id: int, body: bytes) -> bytes:
    head = bytes((table_id,)) + (0xB000 | (len(body) + 5 + 4)).to_bytes(2, "big")
    head += b"\x00\x01\xc1\x00\x00"  # id 1, version 0, current, section 0 of 0
    section = head + body
    return b"\x00" + section + _crc32_mpeg(section).to_bytes(4, "big")


PAT = _section(0x00, (1).to_bytes(2, "big") + (0xE000 | PMT_PID).to_bytes(2, "big"))
PMT = _section(
    0x02,
    (0xE000 | VIDEO_PID).to_bytes(2, "big")  # PCR PID
    + b"\xf0\x00"  # no program descriptors
    + b"\x1b"  # H.264
    + (0xE000 | VIDEO_PID).to_bytes(2, "big")
    + b"\xf0\x00",
)


class TsMuxer:
    """Just enough MPEG-TS for one H.264 track: PAT/PMT before each keyframe, one PES per
    access unit, continuity counters kept per PID."""

    def __init__(self) -> None:
        self._cc: dict[int, int] = {}

    def _packets(self, pid: int, payload: bytes, pcr: int | None = None) -> list[bytes]:
        out, first = [], True
        while payload or first:
            cc = self._cc.get(pid, 0)
            self._cc[pid] = (cc + 1) & 0xF
            head = bytes((0x47, (0x40 if first else 0) | (pid >> 8), pid & 0xFF))
            body = b""  # the adaptation field after its length byte
            if first and pcr is not None:
                body = b"\x10" + ((pcr & ((1 << 33) - 1)) << 15 | 0x7E00).to_bytes(6, "big")
            af_len = 1 + len(body) if body else 0
            chunk = payload[: TS - 4 - af_len]
            payload = payload[len(chunk) :]
            if len(chunk) < TS - 4 - af_len:  # stuffing in the adaptation field
                af_len = TS - 4 - len(chunk)
                if not body and af_len > 1:
                    body = b"\x00"  # no flags
            if af_len:
                field = bytes((af_len - 1,)) + body + b"\xff" * (af_len - 1 - len(body))
                out.append(head + bytes((0x30 | cc,)) + field[:af_len] + chunk)
            else:
                out.append(head + bytes((0x10 | cc,)) + chunk)
            first = False
        return out

    def unit(self, annexb: bytes, pts: int, keyframe: bool, aud: bool = True) -> bytes:
        """TS packets of one PES packet holding `annexb` (90 kHz pts): an access unit, led by
        an access unit delimiter, or with `aud` False the rest of one split over PES packets."""
        packets = []
        if keyframe:
            packets += self._packets(0, PAT) + self._packets(PMT_PID, PMT)
        p = pts & ((1 << 33) - 1)
        pts_field = bytes(
            (
                0x21 | ((p >> 29) & 0x0E),
                (p >> 22) & 0xFF,
                0x01 | ((p >> 14) & 0xFE),
                (p >> 7) & 0xFF,
                0x01 | ((p << 1) & 0xFE),
            )
        )
        pes = b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05" + pts_field
        if aud:
            pes += b"\x00\x00\x00\x01\x09\xf0"
        packets += self._packets(VIDEO_PID, pes + annexb, pcr=pts)
        return b"".join(packets)


def datagrams(ts: bytes, per: int = 7) -> list[bytes]:
    """TS as a drone sends it over UDP: 7 packets (1316 bytes) a datagram."""
    step = TS * per
    return [ts[i : i + step] for i in range(0, len(ts), step)]
