"""Sources read with FFmpeg's demuxers: rtmp:// (pushed, admitted by RtmpIngest), rtsp://
(pull), udp:// (MPEG-TS), file:.

All four end in the same loop: read the video packets, bring them to Annex B, repair them
(vendor SEI, SPS/PPS before IDR), put them on the 90 kHz clock and hand them on. What differs
is how the input is opened and whether it is paced (a file is played at real time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import av
import av.error

from relay.errors import SourceError
from relay.media.access_unit import CLOCK_RATE, AccessUnit
from relay.media.h264 import AnnexBRepair, has_slice, picture_starts
from relay.sources.base import Emit
from relay.sources.redact import redact_text, redact_url, secrets_of
from relay.sources.rtmp_ingest import RtmpIngest
from relay.sources.scheme import port_binding, pull

log = logging.getLogger(__name__)

# Small probing opens a live input in ~0.3 s instead of ~5 s (docs/measured-facts.md); a
# drone's stream has one video track and needs no more. Not fflags=nobuffer: it dropped the
# first IDR.
LIVE_PROBE = {"analyzeduration": "500000", "probesize": "262144"}
READ_TIMEOUT_S = 4.0  # a stalled LTE link is declared lost after this

# Called from the reading thread with each KLV packet of the input (MISB ST 0601 telemetry in
# a TS data PID) and its pts on the 90 kHz clock; must not block (relay/telemetry/ts_data.py).
DataHook = Callable[[bytes, int | None], None]


class DemuxSource:
    """One FFmpeg input; subclasses say how to open it."""

    paced = False
    # FLV, MPEG-TS and files carry a dts, so pts against dts tells B-frames; libavformat leaves
    # it unset on the first packets when the timestamps jitter: taken as "no reorder" then.
    carries_dts = True
    on_data: DataHook | None = None  # set by the stream when its telemetry is "klv"

    def __init__(self, url: str) -> None:
        self.url = url  # to open; never in a message: it may carry a password or token
        self.public_url = redact_url(url)
        self._secrets = secrets_of(url)
        self.no_picture = 0

    def _error(self, text: str) -> SourceError:
        """A SourceError naming the source; FFmpeg's own text may quote the full URL."""
        return SourceError(f"{self.public_url}: {redact_text(text, self._secrets)}")

    def open_args(self) -> tuple[str, dict[str, str], str | None]:
        """(FFmpeg URL, options, format name or None)."""
        return self.url, dict(LIVE_PROBE), None

    def _open(self) -> av.container.InputContainer:
        url, options, fmt = self.open_args()
        try:
            return av.open(url, "r", format=fmt, options=options, timeout=(10.0, READ_TIMEOUT_S))
        except av.error.ExitError:
            raise self._error("timed out opening") from None
        except (av.error.FFmpegError, OSError) as exc:
            raise self._error(f"cannot open: {exc}") from None

    def run(self, emit: Emit, stop: threading.Event) -> None:
        container = self._open()
        try:
            self._read(container, emit, stop)
        finally:
            container.close()

    def _read(self, container: Any, emit: Emit, stop: threading.Event) -> None:
        if not container.streams.video:
            raise self._error("no video track")
        stream = container.streams.video[0]
        # No codec context at all when the input names a codec FFmpeg does not know.
        codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
        if codec != "h264":
            raise self._error(f"video is {codec}, need H.264")
        to_annexb = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        repair = AnnexBRepair()
        repair.seed(stream.codec_context.extradata)
        time_base = stream.time_base
        first_pts: int | None = None
        started = time.monotonic()
        last_pts = -1
        self.no_picture = 0  # units without a slice (SEI or parameter sets only): not emitted
        # KLV streams only when someone listens: otherwise the video is demuxed alone, as
        # before, and FFmpeg discards a data PID's packets.
        klv = [s for s in container.streams.data if s.name == "klv"] if self.on_data else []
        for packet in container.demux(stream, *klv):
            if stop.is_set():
                return
            if packet.size == 0:
                continue
            if packet.stream_index != stream.index:
                self._hand_data(packet)
                continue
            for out in to_annexb.filter(packet):
                data, keyframe = repair.repair(bytes(out))
                self.check_framing(data)
                if not has_slice(data):
                    # An access unit is a picture: an SEI-only or empty unit would count as
                    # a frame in fps_in, the transcoder's drops and the recording's manifest.
                    self.no_picture += 1
                    continue
                raw = out.pts if out.pts is not None else out.dts
                if raw is None or time_base is None:
                    pts = last_pts + CLOCK_RATE // 30
                else:
                    pts = int(raw * time_base * CLOCK_RATE)
                dts = pts if self.carries_dts else None
                if out.dts is not None and out.pts is not None and time_base is not None:
                    dts = int(out.dts * time_base * CLOCK_RATE)
                if first_pts is None:
                    first_pts = pts
                if self.paced:
                    due = started + (pts - first_pts) / CLOCK_RATE
                    wait = due - time.monotonic()
                    if wait > 0 and stop.wait(min(wait, 1.0)):
                        return
                last_pts = pts
                emit(AccessUnit(data, pts=pts, keyframe=keyframe or packet.is_keyframe, dts=dts))
        raise self._error("stream ended")

    def check_framing(self, unit: bytes) -> None:
        """Raises when `unit` is not one whole picture and the input is opened so that it
        must be (UdpTsSource without FFmpeg's parser); the base trusts FFmpeg's framing."""

    def _hand_data(self, packet: Any) -> None:
        """A KLV packet to `on_data`, its pts on the video's 90 kHz clock (to align with frames)."""
        assert self.on_data is not None
        raw = packet.pts if packet.pts is not None else packet.dts
        tb = packet.time_base
        self.on_data(
            bytes(packet), None if raw is None or tb is None else int(raw * tb * CLOCK_RATE)
        )


class RtmpPushSource(DemuxSource):
    """rtmp://HOST:PORT/APP/KEY: the next publisher its RtmpIngest admitted (the drone's
    controller pushes); FFmpeg's FLV demuxer reads what the ingest hands over."""

    def __init__(self, url: str, ingest: RtmpIngest) -> None:
        super().__init__(url)
        self.ingest = ingest

    def run(self, emit: Emit, stop: threading.Event) -> None:
        pipe = self.ingest.next_publisher(stop)
        if pipe is None:
            return
        pipe.attach(stop)
        try:
            try:
                container = av.open(pipe, "r", format="flv", options=dict(LIVE_PROBE))
            except (av.error.FFmpegError, OSError) as exc:
                raise self._error(f"publisher {pipe.peer}: {exc}") from None
            try:
                self._read(container, emit, stop)
            finally:
                container.close()
        except SourceError:
            if pipe.stalled:
                raise self._error(
                    f"publisher {pipe.peer} sent nothing for {pipe.read_timeout_s:.0f} s"
                ) from None
            if not pipe.ended:
                raise
            # The publisher left (or its link dropped): the expected ending of a push. The
            # supervisor restarts at once, without backoff, to wait for the next one.
        finally:
            pipe.close_reader()


class RtspSource(DemuxSource):
    """rtsp://… pulled from a controller or camera; ?transport=tcp|udp (default tcp)."""

    carries_dts = False  # RTP has presentation times only

    def open_args(self) -> tuple[str, dict[str, str], str | None]:
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        transport = query.pop("transport", ["tcp"])[-1]
        if transport not in ("tcp", "udp"):
            raise self._error("transport must be tcp or udp")
        rest = "&".join(f"{k}={v[-1]}" for k, v in query.items())
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
        return url, {**LIVE_PROBE, "rtsp_transport": transport}, "rtsp"


class SplitPictures(Exception):
    """A PES packet that is not one whole picture: the sender splits or joins pictures."""


class UdpTsSource(DemuxSource):
    """udp://HOST:PORT: receives MPEG-TS (HOST 0.0.0.0 to listen on every interface).

    FFmpeg's H.264 parser finds a picture's end only when the next picture begins: one frame
    interval (33 ms at 30 fps) more on every frame (scripts/bench_ts_ingest.py: 67 ms with
    it, 34 without, 0.5 when the sender writes PES lengths). FFmpeg's muxer puts each picture
    in a PES packet of its own, so the PES packet is taken as the picture and the parser is
    left out (fflags noparse). MPEG-TS allows other framing: the first unit that is not
    exactly one picture (a sender that splits a picture over PES packets or joins two) opens
    the input again with the parser.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.whole_pes_pictures = True  # each PES packet taken as one picture

    def open_args(self) -> tuple[str, dict[str, str], str | None]:
        parts = urlsplit(self.url)
        url = f"udp://{parts.netloc}?overrun_nonfatal=1&fifo_size=50000&timeout=4000000"
        # MPEG-TS needs a little more probing than FLV to find the first SPS.
        options = {"analyzeduration": "1000000", "probesize": "1000000"}
        if self.whole_pes_pictures:
            options["fflags"] = "nofillin+noparse"  # FFmpeg: noparse needs nofillin
        return url, options, "mpegts"

    def check_framing(self, unit: bytes) -> None:
        if self.whole_pes_pictures and picture_starts(unit) != 1:
            raise SplitPictures

    def run(self, emit: Emit, stop: threading.Event) -> None:
        try:
            super().run(emit, stop)
        except SplitPictures:
            log.warning(
                "%s: the sender does not put one picture in each PES packet; framing with "
                "FFmpeg's parser from now on (one frame interval later)",
                self.public_url,
            )
            self.whole_pes_pictures = False
            super().run(emit, stop)


class FileSource(DemuxSource):
    """file:PATH: loops a clip at real-time pace (the supervisor restarts it at its end)."""

    paced = True

    def open_args(self) -> tuple[str, dict[str, str], str | None]:
        return self.url[len("file:") :], {}, None

    def run(self, emit: Emit, stop: threading.Event) -> None:
        try:
            super().run(emit, stop)
        except SourceError as exc:
            if not str(exc).endswith("stream ended"):
                raise
            # The end of a clip is the expected ending: the supervisor loops it.


def _check_file(url: str) -> str | None:
    if not url[len("file:") :]:
        return "needs a path, e.g. file:clips/flight.mp4"
    return None


SCHEMES = (
    pull(
        "rtsp",
        RtspSource,
        "rtsp://controller:8554/streaming/live/1",
        needs_host_port=True,
    ),
    pull(
        "udp",
        UdpTsSource,
        "udp://0.0.0.0:5000",
        needs_host_port=True,
        binds=port_binding("udp"),
        waits_for_push=True,
    ),
    pull("file", FileSource, "file:clips/flight.mp4", check=_check_file),
)
