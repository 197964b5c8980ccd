"""Every target by name, in the order a full campaign runs them."""

from __future__ import annotations

from collections.abc import Callable

from scripts.fuzzing.target import Target
from scripts.fuzzing.targets_config import ConfigFiles
from scripts.fuzzing.targets_http import JsonBodies, QueryParams
from scripts.fuzzing.targets_rtmp import FlvTags, RtmpAmf0, RtmpChunks, RtmpHandshake
from scripts.fuzzing.targets_sdp import WhepSdp, WhipSdp
from scripts.fuzzing.targets_udp import AnnexB, MpegTs

TARGETS: dict[str, Callable[[], Target]] = {
    "rtmp-handshake": RtmpHandshake,
    "rtmp-chunks": RtmpChunks,
    "rtmp-amf0": RtmpAmf0,
    "flv": FlvTags,
    "mpegts": MpegTs,
    "h264": AnnexB,
    "whep-sdp": WhepSdp,
    "whip-sdp": WhipSdp,
    "json": JsonBodies,
    "query": QueryParams,
    "config": ConfigFiles,
}
