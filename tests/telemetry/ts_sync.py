"""A TS with synchronous KLV (stream type 0x15, metadata descriptor "KLVA", PES stream id 0xFC,
each KLV packet behind a 5-byte metadata access unit cell header, ISO/IEC 13818-1 2.12):
what many gimbal encoders send and FFmpeg's muxer does not write. Built from a PyAV TS by
keeping its video packets and writing our own PMT and KLV PES with the fuzzers' TS pieces."""

from __future__ import annotations

from scripts.fuzzing.media import PAT, PMT_PID, TS, VIDEO_PID, TsMuxer, _section

KLV_PID = VIDEO_PID + 1
# metadata_descriptor: application format 0xFFFF "KLVA", format 0xFF "KLVA", service 0,
# no decoder config, no DSM-CC, reserved bits set.
DESCRIPTOR = b"\x26\x0d\xff\xffKLVA\xffKLVA\x00\x0f"
PMT = _section(
    0x02,
    (0xE000 | VIDEO_PID).to_bytes(2, "big")  # PCR PID
    + b"\xf0\x00"  # no program descriptors
    + b"\x1b"  # H.264
    + (0xE000 | VIDEO_PID).to_bytes(2, "big")
    + b"\xf0\x00"
    + b"\x15"  # metadata carried in PES
    + (0xE000 | KLV_PID).to_bytes(2, "big")
    + (0xF000 | len(DESCRIPTOR)).to_bytes(2, "big")
    + DESCRIPTOR,
)


def _pes(klv: bytes, pts: int, sequence: int) -> bytes:
    # The cell header: service 0, sequence number, complete cell + random access, length.
    cell = bytes((0, sequence & 0xFF, 0xDF)) + len(klv).to_bytes(2, "big")
    stamp = ((pts >> 30) & 7) << 33 | ((pts >> 15) & 0x7FFF) << 17 | (pts & 0x7FFF) << 1
    stamp |= 0x2100010001  # '0010' prefix and the three marker bits
    body = b"\x80\x80\x05" + stamp.to_bytes(5, "big") + cell + klv
    return b"\x00\x00\x01\xfc" + len(body).to_bytes(2, "big") + body


def sync_klv_ts(video_ts: bytes, klv: list[bytes], first_pts: int, step: int) -> bytes:
    """`video_ts`'s video (its PID must be the fuzzers' VIDEO_PID, as PyAV's is) with our
    PAT/PMT and `klv` as synchronous metadata, packet i at first_pts + i * step (90 kHz),
    spread evenly through the video."""
    video = [
        video_ts[i : i + TS]
        for i in range(0, len(video_ts), TS)
        if ((video_ts[i + 1] & 0x1F) << 8 | video_ts[i + 2]) == VIDEO_PID
    ]
    mux = TsMuxer()
    every = max(1, len(video) // max(1, len(klv)))
    out = bytearray()
    for index, packet in enumerate(video):
        if index % 40 == 0:
            out += b"".join(mux._packets(0, PAT) + mux._packets(PMT_PID, PMT))
        out += packet
        i, rest = divmod(index, every)
        if rest == every - 1 and i < len(klv):
            out += b"".join(mux._packets(KLV_PID, _pes(klv[i], first_pts + i * step, i)))
    return bytes(out)
