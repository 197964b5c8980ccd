"""Clip export: a time range of one stream's recording as one MP4, without re-encoding.

A clip can only start on a keyframe (a decoder needs one) and ends just before a keyframe,
so the cut lands on the keyframe at or before the start asked for and on the first keyframe
at or after the end asked for: the clip holds at least the range, at most a GOP more on
either side. The answer says where it really cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error

from relay.media.access_unit import CLOCK_RATE
from relay.recording.manifest import parse_iso
from relay.recording.segment import sha256_file


@dataclass(frozen=True)
class ClipCut:
    """Where a clip really starts and ends, in seconds from the recording's start."""

    start_s: float
    end_s: float
    frames: int


def _packets(folder: Path, segments: list[dict[str, Any]]) -> Iterator[tuple[Any, int]]:
    """Every packet of the segments in decode order, with its segment's offset in ticks."""
    t0 = parse_iso(segments[0]["start"])
    for seg in segments:
        offset = round((parse_iso(seg["start"]) - t0) * CLOCK_RATE)
        with av.open(str(folder / seg["file"])) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None and packet.dts is not None:
                    yield packet, offset


def _range(
    folder: Path, segments: list[dict[str, Any]], from_s: float, to_s: float
) -> tuple[int, int, float, float]:
    """Decode-order indexes [first, end) of the cut and its times."""
    first, first_t = -1, 0.0
    end, end_t = -1, 0.0
    last_t = 0.0
    index = -1
    for index, (packet, offset) in enumerate(_packets(folder, segments)):
        t = (offset + packet.pts) / CLOCK_RATE
        if packet.is_keyframe:
            if first < 0 or t <= from_s + 1e-3:
                first, first_t = index, t  # the last keyframe at or before the start
            elif t >= to_s - 1e-3:
                end, end_t = index, t  # the first keyframe at or after the end
                break
        last_t = max(last_t, t)
    if end < 0:
        end, end_t = index + 1, last_t + 1 / 30
    return first, end, first_t, end_t


def export_clip(
    folder: Path, segments: list[dict[str, Any]], from_s: float, to_s: float, out_path: Path
) -> ClipCut:
    """Writes the clip (blocking: call from a thread); raises ValueError for an empty range."""
    first, end, start_t, end_t = _range(folder, segments, from_s, to_s)
    if first < 0 or end <= first:
        raise ValueError("the range holds no keyframe to start from")
    frames = 0
    with av.open(str(folder / segments[0]["file"])) as template:
        tmpl_stream = template.streams.video[0]
        out = av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            out_stream = out.add_stream_from_template(tmpl_stream)
            base: int | None = None
            last_dts = -1
            for index, (packet, offset) in enumerate(_packets(folder, segments)):
                if index < first:
                    continue
                if index >= end:
                    break
                if base is None:
                    base = offset + packet.dts
                dts = max(offset + packet.dts - base, last_dts + 1)
                pts = max(offset + packet.pts - base, dts)
                last_dts = dts
                packet.dts, packet.pts = dts, pts
                packet.stream = out_stream
                out.mux(packet)
                frames += 1
        finally:
            out.close()
    return ClipCut(round(start_t, 3), round(end_t, 3), frames)


def export_and_hash(
    folder: Path, segments: list[dict[str, Any]], from_s: float, to_s: float, out_path: Path
) -> tuple[ClipCut, str, int]:
    """export_clip, then the clip's SHA-256 and size: the export worker's job (blocking).
    FFmpeg's errors become plain OSErrors: they travel back to the relay by pickle."""
    try:
        cut = export_clip(folder, segments, from_s, to_s, out_path)
    except av.error.FFmpegError as exc:
        raise OSError(exc.errno, str(exc)) from None
    digest, size = sha256_file(out_path)
    return cut, digest, size
