"""One connection of an output: a rung's encoded frames muxed onto the wire by FFmpeg
(PyAV), blocking, in the output's own process (relay.outputs.pusher).

RTMP (FLV) needs the stream's SPS/PPS before the first frame (its AVC sequence header):
they come from the first keyframe, as for a recording segment (relay.recording.segment).
Timestamps run on without a step across source restarts and the slate: each frame moves the
output's clock by its own distance to the one before, or by one frame when that distance is
not plausible (a new source's clock), so a server never sees time go back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import av

from relay.media.access_unit import CLOCK_RATE, TIME_BASE
from relay.media.h264 import NAL_PPS, NAL_SPS, nal_type, split_nal_units

FORMATS = {
    "rtmp": "flv",
    "rtmps": "flv",
    "rtp": "rtp",
    "rtsp": "rtsp",
    "whip+http": "whip",
    "whip+https": "whip",
}
RTP_PACKET = 1200  # bytes: under a path's MTU with IP, UDP and a tunnel's headers
OPEN_TIMEOUT_US = "5000000"  # a server that does not answer: the connection fails in 5 s
MAX_STEP = 2 * CLOCK_RATE  # a frame more than this after the last one: a new source's clock
FRAME_TICKS = CLOCK_RATE // 30


class OutputClock:
    """The output's 90 kHz clock: monotonic, continuous across the source's restarts."""

    def __init__(self) -> None:
        self.now = 0
        self._last_in: int | None = None
        self._step = FRAME_TICKS

    def advance(self, rtp_timestamp: int) -> int:
        last, self._last_in = self._last_in, rtp_timestamp
        if last is not None:
            step = (rtp_timestamp - last) & 0xFFFFFFFF  # the RTP clock wraps at 32 bits
            if 0 < step <= MAX_STEP:
                self._step = step
            self.now += self._step
        return self.now


class Muxer:
    """Opens `url` and writes a rung's frames to it; every call blocks (a thread's job)."""

    def __init__(self, url: str, scheme: str, size: tuple[int, int] = (0, 0), **extra: str) -> None:
        """`extra`: what a scheme needs besides the URL (WHIP: token, cert_file, key_file)."""
        self.url, self.format, self.size, self.extra = url, FORMATS[scheme], size, extra
        self.bytes = 0
        self._container: Any = None
        self._stream: Any = None

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        """Muxes one frame (pts on the output's 90 kHz clock); the first must be a keyframe
        (it opens the connection)."""
        if self._container is None:
            self._open(data)
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = TIME_BASE
        packet.stream = self._stream
        packet.is_keyframe = keyframe
        self._container.mux(packet)
        self.bytes += len(data)

    def _open(self, keyframe: bytes) -> None:
        params = [n for n in split_nal_units(keyframe) if nal_type(n) in (NAL_SPS, NAL_PPS)]
        url, options = self.url, {"rw_timeout": OPEN_TIMEOUT_US, "timeout": OPEN_TIMEOUT_US}
        if self.format == "rtp":
            url, options = rtp_target(self.url)
        elif self.format == "rtsp":
            url, options = rtsp_target(self.url)
        elif self.format == "whip":
            url, options = whip_target(self.url, self.extra)
        container = av.open(url, "w", format=self.format, options=options)
        stream = container.add_stream("h264")
        stream.codec_context.extradata = b"".join(b"\x00\x00\x00\x01" + n for n in params)
        # The container's metadata; a player reads the real size from the SPS.
        stream.codec_context.width = self.size[0] or 16
        stream.codec_context.height = self.size[1] or 16
        stream.codec_context.max_b_frames = 0  # the rungs have none; WHIP refuses B-frames
        stream.time_base = TIME_BASE
        self._container, self._stream = container, stream

    def close(self) -> None:
        """Ends the connection (the trailer); safe to call twice and after a failure."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except (OSError, av.error.FFmpegError):
                pass  # the peer is gone already: nothing left to tell it


def rtp_target(url: str) -> tuple[str, dict[str, str]]:
    """rtp://host:port?pt=96 -> FFmpeg's URL (packets of RTP_PACKET bytes; RTCP sender
    reports to port + 1, as a Janus streaming mountpoint expects) and its muxer options."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    options = {"payload_type": query.get("pt", "96")}
    return f"rtp://{parts.hostname}:{parts.port}?pkt_size={RTP_PACKET}", options


def rtsp_target(url: str) -> tuple[str, dict[str, str]]:
    """rtsp://host:port/path?transport=tcp|udp -> FFmpeg's URL and options: ANNOUNCE and
    RECORD (publishing, as to a MediaMTX-style server), over TCP unless the URL says udp."""
    parts = urlsplit(url)
    transport = dict(parse_qsl(parts.query)).get("transport", "tcp")
    options = {"rtsp_transport": transport, "timeout": OPEN_TIMEOUT_US}
    return parts._replace(query="").geturl(), options


def whip_target(url: str, extra: dict[str, str]) -> tuple[str, dict[str, str]]:
    """whip+https://host/whip/endpoint -> the endpoint over https (http for whip+http) and
    FFmpeg's WHIP muxer options: its certificate, the Bearer token if there is one."""
    options = {"handshake_timeout": "10000", "cert_file": extra["cert_file"]}
    options["key_file"] = extra["key_file"]
    if extra.get("token"):
        options["authorization"] = extra["token"]
    return url.removeprefix("whip+"), options
