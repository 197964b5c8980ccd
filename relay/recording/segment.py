"""One segment file: the stream's original access units in fragmented MP4.

Why fragmented MP4 (README "Recording"): every fragment (one per GOP, at most 2 s) is a
self-contained moof+mdat that players can read while the file grows and after a crash,
Chromium plays it in a plain <video> with seeking (it does not play MPEG-TS), and HTTP Range
works on it like on any file. The samples are the drone's own bytes: no re-encode.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av

from relay.media.access_unit import CLOCK_RATE, TIME_BASE, AccessUnit
from relay.media.h264 import NAL_PPS, NAL_SPS, nal_type, split_nal_units

# One fragment per GOP, or every 2 s in a long GOP; empty_moov: the file is playable from
# its first fragment on; default_base_moof: what browsers' MSE and players expect.
MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "2000000",
    "flush_packets": "1",
}
HASH_CHUNK = 1 << 20


@dataclass
class SegmentStats:
    """What a segment holds, for the manifest."""

    frames: int = 0
    bytes: int = 0
    first_pts: int | None = None
    last_pts: int | None = None
    frame_ticks: int = 3000

    @property
    def duration_s(self) -> float:
        if self.first_pts is None or self.last_pts is None:
            return 0.0
        return (self.last_pts - self.first_pts + self.frame_ticks) / CLOCK_RATE


class SegmentWriter:
    """Writes units (starting with a keyframe) into one fMP4 file; close() returns stats."""

    def __init__(self, path: Path, first: AccessUnit, width: int = 0, height: int = 0) -> None:
        self.path = path
        self.stats = SegmentStats()
        self._file: BinaryIO = open(path, "xb")  # noqa: SIM115 - closed in close()
        try:
            self._container: Any = av.open(self._file, "w", format="mp4", options=dict(MP4_OPTIONS))
            stream = self._container.add_stream("h264")
            params = [n for n in split_nal_units(first.data) if nal_type(n) in (NAL_SPS, NAL_PPS)]
            # The avcC box is built from these; the samples keep their own SPS/PPS too.
            stream.codec_context.extradata = b"".join(b"\x00\x00\x00\x01" + n for n in params)
            stream.codec_context.width = width or 16
            stream.codec_context.height = height or 16
            stream.time_base = TIME_BASE
            self._stream = stream
        except Exception:
            self._file.close()
            raise
        self._origin: int | None = None
        self._last_pts = -1

    def write(self, unit: AccessUnit, dts: int) -> None:
        """Muxes one unit; raises OSError (disk full, unwritable) from the file."""
        if self._origin is None:
            self._origin = dts
        packet = av.Packet(unit.data)
        packet.dts = dts - self._origin
        packet.pts = max(unit.pts - self._origin, packet.dts)
        packet.time_base = TIME_BASE
        packet.stream = self._stream
        packet.is_keyframe = unit.keyframe
        self._container.mux(packet)
        s = self.stats
        s.frames += 1
        s.bytes += len(unit.data)
        if s.first_pts is None or unit.pts < s.first_pts:
            s.first_pts = unit.pts
        if s.last_pts is not None and unit.pts > s.last_pts and s.frames <= 3:
            s.frame_ticks = unit.pts - s.last_pts
        if s.last_pts is None or unit.pts > s.last_pts:
            s.last_pts = unit.pts

    def sync(self) -> None:
        """Pushes what is written to the disk (after each fragment: crash safety)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Writes the last fragment and closes the file; safe to call twice."""
        if self._file.closed:
            return
        try:
            self._container.close()
            self.sync()
        finally:
            self._file.close()


def sha256_file(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and size; reads in chunks (call it from a thread)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def probe(path: Path) -> tuple[int, float]:
    """(frames, duration in seconds) of a recorded file, by reading its packets."""
    frames = 0
    first: int | None = None
    last: int | None = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, CLOCK_RATE)
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            frames += 1
            first = packet.pts if first is None else min(first, packet.pts)
            last = packet.pts if last is None else max(last, packet.pts)
    if first is None or last is None:
        return 0, 0.0
    step = float(tb) * (last - first) / max(1, frames - 1) if frames > 1 else 0.0
    return frames, float((last - first) * tb) + step
