"""The fake drone's pictures (scripts/fake_drone.py): the relay's synthetic aerial scene, or a
video file's, looped."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av


def file_frames(path: Path, width: int, height: int) -> Iterator[av.VideoFrame]:
    """The file's pictures, scaled to width x height yuv420p, looped for ever."""
    while True:
        decoded = False
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                decoded = True
                yield frame.reformat(width, height, "yuv420p")
        if not decoded:
            raise OSError(f"--file {path}: no picture decodes")


def probe_file(path: Path) -> tuple[int, int, int]:
    """(width, height, fps) of the file's first video track."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video track")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or 30
        return stream.width & ~1, stream.height & ~1, max(1, min(120, round(rate)))


def sim_frames(
    width: int, height: int, fps: int, at: float | None = None
) -> Iterator[av.VideoFrame]:
    """The sim scene; frame marks: counter = index, capture time = when rendered, or with
    `at` (Unix seconds) at + index / fps: a clip rendered ahead to be pushed at that time."""
    from relay.sources.sim_scene import SimScene

    scene = SimScene(width, height, fps)  # now, not at the first frame: it takes ~1 s
    if at is None:
        return (scene.render(index) for index in itertools.count())
    return (scene.render(i, mark_ms(at, i, fps)) for i in itertools.count())


def mark_ms(at: float, index: int, fps: int) -> int:
    """The capture time frame `index` of a clip rendered ahead for `at` carries."""
    return round((at + index / fps) * 1000)
