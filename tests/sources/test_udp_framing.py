"""MPEG-TS over UDP: a picture is handed on as soon as its PES packet is whole (FFmpeg's
parser would hold it until the next picture begins), and a sender that does not put one
picture in each PES packet still gets one picture per unit (the source falls back to the
parser)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import av.error
import numpy as np
import pytest

from relay.errors import SourceError
from relay.media.access_unit import AccessUnit
from relay.media.h264 import has_slice, picture_starts
from relay.sources.demux import UdpTsSource
from scripts.fuzzing.media import TsMuxer, datagrams
from tests.conftest import free_port
from tests.udp_bind import wait_until_bound

FPS = 30
PROBE_FRAMES = 45  # 1.5 s: more than the source's analyzeduration (1 s) needs


class Reader:
    """A UdpTsSource on a free port, read in a thread; keeps what it hands on."""

    def __init__(self) -> None:
        self.units: list[AccessUnit] = []
        self.parsed: list[AccessUnit] = []  # those framed by FFmpeg's parser
        self.error: BaseException | None = None
        # A free port can be taken by another process before the source binds it; the
        # source then fails at once, and a fresh port is tried.
        for _attempt in range(3):
            self.stop = threading.Event()  # the failed attempt's close() set the last one
            self.port = free_port(socket.SOCK_DGRAM)
            self.source = UdpTsSource(f"udp://127.0.0.1:{self.port}")
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
            try:
                wait_until_bound(self.port, holder=self.thread)
                return
            except AssertionError:
                self.close()
        raise AssertionError(f"the UDP source never bound a port; last error: {self.error!r}")

    def _read(self) -> None:
        try:
            self.source.run(self._keep, self.stop)
        except (SourceError, av.error.FFmpegError) as exc:
            self.error = exc  # at the end: the read timeout after the sender stopped

    def _keep(self, unit: AccessUnit) -> None:
        self.units.append(unit)
        if not self.source.whole_pes_pictures:
            self.parsed.append(unit)

    def wait_units(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.units) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return len(self.units) >= count

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def pictures(count: int, slices: int = 1) -> Iterator[av.Packet]:
    """`count` H.264 pictures of a moving gradient, one packet each (zerolatency: a picture
    in, its packet out)."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 240, "yuv420p"
    enc.time_base = Fraction(1, FPS)
    enc.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "x264-params": f"keyint={FPS}:slices={slices}",
    }
    ramp = np.tile(np.arange(320, dtype=np.int32), (240, 1))
    for i in range(count):
        gray = ((ramp + 4 * i) % 256).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.dstack([gray] * 3), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        yield from enc.encode(frame)


def ts_output(port: int, pes_lengths: bool) -> av.container.OutputContainer:
    options = {"omit_video_pes_length": "0"} if pes_lengths else {}
    url = f"udp://127.0.0.1:{port}?pkt_size=1316"
    return av.open(url, "w", format="mpegts", options=options)


def test_a_picture_is_handed_on_before_the_next_is_sent() -> None:
    reader = Reader()
    output = ts_output(reader.port, pes_lengths=True)
    stream = output.add_stream("h264", rate=FPS)
    stream.width, stream.height = 320, 240
    try:
        packets = pictures(PROBE_FRAMES + 10)
        for _ in range(PROBE_FRAMES):  # paced, so that the demuxer's probing ends
            packet = next(packets)
            packet.stream = stream
            output.mux(packet)
            time.sleep(1 / FPS)
        # Nothing more is sent: every picture sent so far must come out, the last one too.
        assert reader.wait_units(PROBE_FRAMES), f"{len(reader.units)} of {PROBE_FRAMES}"
        for sent, packet in enumerate(packets, start=PROBE_FRAMES + 1):
            packet.stream = stream
            output.mux(packet)
            assert reader.wait_units(sent), f"picture {sent} held until the next one"
        assert len(reader.units) == PROBE_FRAMES + 10
        assert all(picture_starts(u.data) == 1 for u in reader.units)
        pts = [u.pts for u in reader.units]
        assert pts == sorted(pts) and len(set(pts)) == len(pts)
        assert reader.source.whole_pes_pictures
    finally:
        output.close()
        reader.close()


def test_two_pictures_in_one_pes_packet_come_out_one_by_one() -> None:
    """A sender that puts two pictures in each PES packet: the source sees a unit that
    starts two pictures, opens the input again with FFmpeg's parser, and hands on one
    picture per unit from then on. (A picture split over PES packets is caught by a unit
    that starts none: the next test.)"""
    reader = Reader()
    output = ts_output(reader.port, pes_lengths=True)
    stream = output.add_stream("h264", rate=FPS)
    stream.width, stream.height = 320, 240
    frames = 4 * FPS
    try:
        made = iter(pictures(frames))
        for first in made:
            second = next(made)
            pair = av.Packet(bytes(first) + bytes(second))
            pair.pts, pair.dts, pair.time_base = first.pts, first.dts, first.time_base
            pair.stream = stream
            output.mux(pair)
            time.sleep(2 / FPS)
        assert reader.wait_units(FPS), f"only {len(reader.units)} pictures"
    finally:
        output.close()
        reader.close()
    assert not reader.source.whole_pes_pictures, "the two pictures in one unit went unnoticed"
    # The parser's first unit after the reopening may be a picture's tail (datagrams were
    # lost meanwhile); from then on one picture per unit.
    assert len(reader.parsed) >= FPS, len(reader.parsed)
    assert all(picture_starts(u.data) == 1 for u in reader.parsed[1:])
    decoder = av.CodecContext.create("h264", "r")
    first_key = next(i for i, u in enumerate(reader.parsed) if u.keyframe and i > 0)
    whole = reader.parsed[first_key:]
    decoded = [f for u in whole for f in decoder.decode(av.Packet(u.data))]
    assert len(decoded) == len(whole)  # Constrained Baseline: a picture in, a picture out
    assert (decoded[-1].width, decoded[-1].height) == (320, 240)


def _second_slice_at(picture: bytes) -> int:
    """Where the second (and last) slice of a two-slice picture begins: a unit from there on
    holds a slice but starts no picture."""
    at = picture.rfind(b"\x00\x00\x01")
    assert has_slice(picture[at:]) and picture_starts(picture[at:]) == 0
    return at


@pytest.mark.parametrize("cut", ["between_slices", "inside_a_slice"])
def test_a_picture_split_over_pes_packets_comes_out_whole(cut: str) -> None:
    """A sender that splits each picture over two PES packets (MPEG-TS allows it; FFmpeg's
    muxer never does it, so the TS is written here): the first half is handed on alone, the
    second half starts no picture, the source opens the input again with FFmpeg's parser,
    and from then on each unit is a whole picture, decoding to exactly what was sent."""
    reader = Reader()
    muxer = TsMuxer()
    frames = 5 * FPS
    sent: list[bytes] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i, packet in enumerate(pictures(frames, slices=2)):
                picture = bytes(packet)
                sent.append(picture)
                at = _second_slice_at(picture) if cut == "between_slices" else len(picture) // 2
                pts = i * 90_000 // FPS
                ts = muxer.unit(picture[:at], pts, packet.is_keyframe)
                ts += muxer.unit(picture[at:], pts, keyframe=False, aud=False)
                for datagram in datagrams(ts):
                    udp.sendto(datagram, ("127.0.0.1", reader.port))
                time.sleep(1 / FPS)
        # The parser hands on a picture when the next begins: the last one stays held.
        last = (frames - 2) * 90_000 // FPS
        deadline = time.monotonic() + 5
        while not any(u.pts == last for u in reader.parsed) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        reader.close()
    assert not reader.source.whole_pes_pictures, "the split pictures went unnoticed"
    # Before the fallback exactly one unit went out: the first half of the first picture.
    assert len(reader.units) - len(reader.parsed) == 1
    assert len(reader.parsed) >= 2 * FPS, len(reader.parsed)
    # The parser's first unit may be a picture's tail (datagrams are lost while the input
    # is opened again); from then on one whole picture per unit.
    assert all(picture_starts(u.data) == 1 for u in reader.parsed[1:])
    reference = av.CodecContext.create("h264", "r")
    expected = [f.to_ndarray(format="gray") for p in sent for f in reference.decode(av.Packet(p))]
    first_key = next(i for i, u in enumerate(reader.parsed) if u.keyframe and i > 0)
    decoder = av.CodecContext.create("h264", "r")
    compared = 0
    for unit in reader.parsed[first_key:]:
        packet = av.Packet(unit.data)
        packet.pts = unit.pts
        for frame in decoder.decode(packet):
            assert frame.pts is not None
            index = frame.pts * FPS // 90_000
            assert np.array_equal(frame.to_ndarray(format="gray"), expected[index]), index
            compared += 1
    assert compared == len(reader.parsed) - first_key


@pytest.mark.parametrize(
    ("unit", "starts"),
    [
        (b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x65\x88\x84", 1),  # AUD, IDR slice 0
        (b"\x00\x00\x01\x41\x9a\x00\x00\x01\x41\x40\x00", 1),  # two slices, one picture
        (b"\x00\x00\x01\x41\x40\x10", 0),  # a continuation: first_mb_in_slice > 0
        (b"\x00\x00\x01\x41\x9a\x00\x00\x01\x41\x9b", 2),  # two pictures
        (b"\x00\x00\x01\x06\x05\x10", 0),  # SEI only
    ],
)
def test_picture_starts(unit: bytes, starts: int) -> None:
    assert picture_starts(unit) == starts
