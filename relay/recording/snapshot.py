"""Snapshot: the newest picture of a stream as a full-resolution JPEG.

It decodes the units since the last keyframe, which the recorder's tap keeps anyway: the
picture is the drone's own, at its own resolution, without the relay's overlay, and the
live transcoder is not touched.
"""

from __future__ import annotations

import av
import av.error
import cv2

from relay.media.access_unit import AccessUnit

JPEG_QUALITY = 92


def snapshot_jpeg(gop: list[AccessUnit]) -> tuple[bytes, int, int]:
    """(JPEG bytes, width, height) of the last decodable frame of a GOP (blocking);
    raises ValueError when none decodes."""
    decoder = av.CodecContext.create("h264", "r")
    last = None
    for unit in gop:
        try:
            for frame in decoder.decode(av.Packet(unit.data)):
                last = frame
        except av.error.FFmpegError:
            continue
    try:
        for frame in decoder.decode(None):
            last = frame
    except av.error.FFmpegError:
        pass
    if last is None:
        raise ValueError("no picture decoded")
    ok, jpeg = cv2.imencode(
        ".jpg", last.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes(), last.width, last.height
