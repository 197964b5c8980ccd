"""The fake drone's DJI mode: pushes RTMP the way DJI controllers do (`--dji QUIRK,…`).

Encodes the sim scene (frame marks at the top and lower down) with libx264 in 4 slices per
picture, then shapes each picture into RTMP messages with relay.sources.rtmp_publish, which
controls every message boundary. The quirks, by the servers that met them:

    split-pictures  one picture over 2-4 messages with the same timestamp, one part per slice
                    (OvenMediaEngine #1740/#1690, DJI MSDK-V5 #450: MTU-sized parts)
    split-nal       a NAL unit cut in two: its length runs past its message, the rest
                    comes in the next message
    sei-only        an SEI alone in a message before each picture, with its timestamp
                    (MediaMTX PR #6051)
    dji-sei         DJI's user-data SEI (payload type 5 with a UUID) in every picture
                    (MediaMTX #5221)
    empty           video messages without any NAL unit between pictures (MediaMTX #2375)
    jitter          timestamps that step back now and then, composition time 0, no
                    B-frames (go2rtc #1969)
    ext-ts          timestamps beyond 0xFFFFFF: extended timestamps (MediaMTX #2393)
    no-audio        metadata announces audio that never comes (go2rtc #1969)
    sps-once        SPS/PPS only in the sequence header, never again before an IDR
    res-change      the resolution changes mid-push (x1.5), with a new sequence header
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from relay.media.frame_marks import write_marks
from relay.media.h264 import NAL_IDR, NAL_PPS, NAL_SPS, nal_type, split_nal_units
from relay.sources.rtmp_publish import RtmpPublisher

log = logging.getLogger("fake_drone")

QUIRKS = (
    "split-pictures",
    "split-nal",
    "sei-only",
    "dji-sei",
    "empty",
    "jitter",
    "ext-ts",
    "no-audio",
    "sps-once",
    "res-change",
)
SLICES = 4
DJI_UUID = bytes.fromhex("e0a3ec1fd7c74a7a8a7dc39a5f1e6cb2")  # stands for DJI's; any UUID does
EXT_TS_START = 0xFFFFFF - 1500  # extended timestamps 1.5 s into the push


def parse_quirks(text: str) -> set[str]:
    """The set of quirks in "a,b,…" ("all" for every one); ValueError names an unknown one."""
    names = {q.strip() for q in text.split(",") if q.strip()}
    if names == {"all"}:
        return set(QUIRKS)
    unknown = names - set(QUIRKS)
    if unknown or not names:
        raise ValueError(f"unknown quirk {sorted(unknown)}; known: all, {', '.join(QUIRKS)}")
    return names


def sei_nal(payload_type: int, payload: bytes) -> bytes:
    """An SEI NAL unit with one message (sizes below 255) and the RBSP stop bit."""
    return bytes((6, payload_type, len(payload))) + payload + b"\x80"


def avc_sequence_header(sps: bytes, pps: bytes) -> bytes:
    """The FLV AVC sequence header (avcC) for one SPS and one PPS; 4-byte NAL lengths."""
    avcc = bytes((1, sps[1], sps[2], sps[3], 0xFF, 0xE1)) + len(sps).to_bytes(2, "big") + sps
    avcc += b"\x01" + len(pps).to_bytes(2, "big") + pps
    return b"\x17\x00\x00\x00\x00" + avcc


def prefixed(nals: list[bytes]) -> bytes:
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


class DjiShaper:
    """Cuts one encoded picture into the RTMP video messages a DJI controller would send."""

    def __init__(self, quirks: set[str], fps: int) -> None:
        self.quirks, self.fps = quirks, fps
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self.sent_header_for: bytes | None = None

    def timestamp(self, index: int) -> int:
        ms = index * 1000 // self.fps
        if "jitter" in self.quirks and index % 7 == 3:
            ms -= 1000 // self.fps + 12  # 12 ms before the previous picture's
        if "ext-ts" in self.quirks:
            ms += EXT_TS_START
        return max(0, ms)

    def messages(self, index: int, unit: bytes) -> list[tuple[int, bytes]]:
        """(timestamp, FLV video payload) of each message for picture `index`."""
        ts = self.timestamp(index)
        nals = list(split_nal_units(unit))
        out: list[tuple[int, bytes]] = []
        for nal in nals:
            if nal_type(nal) == NAL_SPS:
                self.sps = nal
            elif nal_type(nal) == NAL_PPS:
                self.pps = nal
        if self.sps and self.pps and self.sent_header_for != self.sps:
            out.append((ts, avc_sequence_header(self.sps, self.pps)))
            self.sent_header_for = self.sps
        key = any(nal_type(n) == NAL_IDR for n in nals)
        if "sps-once" in self.quirks:
            nals = [n for n in nals if nal_type(n) not in (NAL_SPS, NAL_PPS)]
        if "dji-sei" in self.quirks:
            nals.insert(0, sei_nal(5, DJI_UUID + b"DJI:%08d" % index))
        header = bytes((0x17 if key else 0x27, 1, 0, 0, 0))
        if "sei-only" in self.quirks:
            out.append((ts, b"\x27\x01\x00\x00\x00" + prefixed([sei_nal(5, DJI_UUID + b"x")])))
        parts = [nals]
        if "split-pictures" in self.quirks:
            parts = self._parts(nals)
        bodies = [prefixed(p) for p in parts]
        if "split-nal" in self.quirks:
            # Cut the largest part inside its first slice: the NAL's length runs past it.
            i = max(range(len(bodies)), key=lambda k: len(bodies[k]))
            body = bodies[i]
            cut = max(5, min(len(body) - 1, len(body) // 2))
            bodies[i : i + 1] = [body[:cut], body[cut:]]
        out += [(ts, header + b) for b in bodies]
        if "empty" in self.quirks and index % 5 == 2:
            out.append((ts, header))
        return out

    @staticmethod
    def _parts(nals: list[bytes]) -> list[list[bytes]]:
        """2-4 parts, each ending after a slice; non-slice NAL units go with the first."""
        parts: list[list[bytes]] = [[]]
        for nal in nals:
            parts[-1].append(nal)
            if 1 <= nal_type(nal) <= 5 and len(parts) < SLICES:
                parts.append([])
        return [p for p in parts if p]


def encoder(width: int, height: int, a: argparse.Namespace) -> av.CodecContext:
    """libx264, baseline-like, 4 slices per picture (or a.slices), SPS/PPS before each IDR
    (in band)."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, a.fps)
    enc.framerate = Fraction(a.fps, 1)
    enc.bit_rate = a.bitrate
    enc.gop_size = a.gop
    enc.max_b_frames = 0
    slices = getattr(a, "slices", SLICES)
    x264 = f"keyint={a.gop}:min-keyint={a.gop}:scenecut=0:slices={slices}"
    enc.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": x264}
    return enc


def pictures(a: argparse.Namespace, quirks: set[str]) -> Iterator[tuple[int, av.VideoFrame]]:
    """(index, frame) of the sim scene; with res-change, the second half 1.5 times larger,
    scaled and marked again (one scene: making a second one takes a second)."""
    from relay.sources.sim_scene import SimScene

    scene = SimScene(a.width, a.height, a.fps)
    change_at = int((a.seconds or 10.0) * a.fps / 2) if "res-change" in quirks else -1
    index = 0
    while True:
        frame = scene.render(index)
        if 0 <= change_at <= index:
            w, h = (a.width * 3 // 2) & ~1, (a.height * 3 // 2) & ~1
            planes = np.asarray(frame.reformat(w, h, "yuv420p").to_ndarray(), np.uint8)
            write_marks(planes[:h], index, time.time_ns() // 1_000_000)
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        yield index, frame
        index += 1


async def push_dji(a: argparse.Namespace, quirks: set[str]) -> int:
    """Pushes until --seconds (or for ever); the number of pictures sent."""
    # The scene first: it takes a second or more to make, a silence the relay would end.
    frames = pictures(a, quirks)
    first = next(frames)
    publisher = RtmpPublisher(a.url)
    await publisher.open()
    video_only = {"width": float(a.width), "height": float(a.height), "videocodecid": 7.0}
    meta = {**video_only, "framerate": float(a.fps)}
    if "no-audio" in quirks:
        meta |= {"audiocodecid": 10.0, "audiosamplerate": 44100.0, "stereo": True}
    await publisher.data("@setDataFrame", "onMetaData", meta)
    shaper = DjiShaper(quirks, a.fps)
    enc: av.CodecContext | None = None
    start = time.monotonic()
    sent = 0
    try:
        for index, frame in itertools.chain([first], frames):
            if a.seconds is not None and index >= a.seconds * a.fps:
                break
            delay = start + index / a.fps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if enc is None or (enc.width, enc.height) != (frame.width, frame.height):
                enc = encoder(frame.width, frame.height, a)  # a new size starts with an IDR
            frame.pts, frame.time_base = index, Fraction(1, a.fps)
            for packet in enc.encode(frame):
                for ts, payload in shaper.messages(index, bytes(packet)):
                    await publisher.video(ts, payload)
                sent += 1
    finally:
        await publisher.close()
    log.info("sent %d pictures with quirks %s", sent, ",".join(sorted(quirks)))
    return sent
