"""MISB ST 0601 packets with known values, for the fake drone's TS and the tests.

Written from the standard's tables on its own (not from relay.telemetry.klv's), so that a
wrong mapping in the parser shows up against it; the known vectors in test_klv.py pin both
to the standard's own examples.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))  # flight_path beside it

import flight_path  # noqa: E402
from flight_path import CENTRE  # noqa: E402

from relay.sources.sim_scene import SimScene  # noqa: E402

KEY = bytes.fromhex("060E2B34020B01010E01030101000000")

# tag: (bytes, signed, low, high) as ST 0601 lists them; signed ranges are symmetric.
MAPPING: dict[int, tuple[int, bool, float, float]] = {
    5: (2, False, 0.0, 360.0),
    6: (2, True, -20.0, 20.0),
    7: (2, True, -50.0, 50.0),
    13: (4, True, -90.0, 90.0),
    14: (4, True, -180.0, 180.0),
    15: (2, False, -900.0, 19_000.0),
    16: (2, False, 0.0, 180.0),
    17: (2, False, 0.0, 180.0),
    18: (4, False, 0.0, 360.0),
    19: (4, True, -180.0, 180.0),
    23: (4, True, -90.0, 90.0),
    24: (4, True, -180.0, 180.0),
    25: (2, False, -900.0, 19_000.0),
    56: (1, False, 0.0, 255.0),
}


def ber(length: int, long_form: bool = False) -> bytes:
    """A BER length: short form below 128 unless `long_form`."""
    if length < 128 and not long_form:
        return bytes([length])
    body = length.to_bytes(max(1, (length.bit_length() + 7) // 8), "big")
    return bytes([0x80 | len(body)]) + body


def encode_value(tag: int, value: float | None) -> bytes:
    """One value as ST 0601 maps it; None is the signed "error" marker."""
    size, signed, low, high = MAPPING[tag]
    bits = 8 * size
    if signed:
        if value is None:
            return (1 << (bits - 1)).to_bytes(size, "big")
        # +/-(2^(n-1)-1) spans low..high
        raw = round(value * ((1 << bits) - 2) / (high - low))
        return raw.to_bytes(size, "big", signed=True)
    assert value is not None, f"tag {tag} has no error marker"
    raw = round((value - low) * ((1 << bits) - 1) / (high - low))
    return raw.to_bytes(size, "big")


def st0601_sum(data: bytes) -> int:
    """The running 16-bit sum, written as the standard's reference loop does it."""
    total = 0
    for i, byte in enumerate(data):
        total += byte << (8 * ((i + 1) % 2))
    return total & 0xFFFF


def make_packet(
    values: dict[int, float | None],
    time_us: int | None = None,
    version: int | None = 17,
    extra: bytes = b"",
    long_length: bool = False,
    bad_checksum: bool = False,
) -> bytes:
    """A whole UAS local set: timestamp (tag 2) first, then `values` by tag, `extra` raw
    items (e.g. a mission id to make it long), the version (tag 65), the checksum."""
    items = b""
    if time_us is not None:
        items += b"\x02\x08" + time_us.to_bytes(8, "big")
    for tag, value in values.items():
        body = encode_value(tag, value)
        items += bytes([tag]) + ber(len(body)) + body
    items += extra
    if version is not None:
        items += bytes([65, 1, version])
    head = KEY + ber(len(items) + 4, long_length) + items + b"\x01\x02"
    total = st0601_sum(head) ^ (0x0101 if bad_checksum else 0)
    return head + total.to_bytes(2, "big")


def circle(t: float, centre: tuple[float, float] = CENTRE) -> dict[int, float | None]:
    """The fake drone's flight (scripts/flight_path.py) at `t` s as ST 0601 values by tag."""
    p = flight_path.circle(t, centre)
    return {
        5: p.heading_deg,
        13: p.lat,
        14: p.lon,
        15: p.alt_msl_m,
        16: p.hfov_deg,
        17: p.vfov_deg,
        18: p.gimbal_yaw_deg % 360.0,
        19: p.gimbal_pitch_deg,
        23: p.target_lat,
        24: p.target_lon,
        25: p.target_msl_m,
        56: p.ground_speed_mps,
    }


def mux_klv(
    out: av.container.OutputContainer, data: av.stream.Stream, payload: bytes, pts: int
) -> None:
    """One KLV packet on the data PID at `pts` (90 kHz, the video's clock)."""
    packet = av.Packet(payload)
    packet.stream = data
    packet.time_base = Fraction(1, 90_000)
    packet.pts = packet.dts = pts
    out.mux(packet)


def flight_packet(index: int, fps: int, rate_hz: int = 10) -> bytes | None:
    """The fake drone's KLV for frame `index`: the circle at that moment, `rate_hz` a
    second (None between), stamped with the wall clock as a drone's GPS time is."""
    if index % max(1, fps // rate_hz):
        return None
    return make_packet(circle(index / fps), time_us=time.time_ns() // 1000)


def push_ts(
    url: str,
    seconds: float,
    klv_for_frame: Callable[[int], bytes | None],
    fps: int = 30,
    size: tuple[int, int] = (320, 240),
) -> int:
    """Pushes MPEG-TS (H.264 + a KLV data PID, stream type 0x06 with KLVA registration, as
    FFmpeg's muxer writes it) at real time; frame i carries klv_for_frame(i) if not None, at
    that frame's pts. udp:// URLs get 1316-byte datagrams. Returns the KLV packets sent."""
    if url.startswith("udp://"):
        url += ("&" if "?" in url else "?") + "pkt_size=1316"
    scene = SimScene(size[0], size[1], fps)
    sent = 0
    with av.open(url, "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.codec_context.gop_size = fps // 2
        video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        data = out.add_mux_stream("klv")  # a data stream of FFmpeg's smpte_klv codec
        start = time.monotonic()
        for i in range(int(seconds * fps)):
            time.sleep(max(0.0, start + i / fps - time.monotonic()))
            frame = scene.render(i)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
            payload = klv_for_frame(i)
            if payload is not None:
                mux_klv(out, data, payload, i * 90_000 // fps)
                sent += 1
        out.mux(video.encode(None))
    return sent
