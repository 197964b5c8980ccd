"""PictureJoiner on DJI-shaped messages: every picture comes out whole, once, and decodes with
both frame marks agreeing; cut NAL units are completed or dropped with a count."""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from pathlib import Path

import av
import pytest

from relay.media.frame_marks import read_marks
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_joiner import LEARN_PICTURES, PictureJoiner
from relay.sources.flv_pipe import FLV_HEADER, flv_tag
from relay.sources.rtmp_publish import chunks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from dji_quirks import QUIRKS, SLICES, DjiShaper, encoder, pictures  # noqa: E402

PICTURES = 45


def shaped(quirks: set[str], slices: int = SLICES) -> list[tuple[int, bytes]]:
    """The messages the fake drone sends for PICTURES pictures with these quirks (its
    encoder makes SLICES slices a picture, as DJI's do, unless told otherwise)."""
    a = argparse.Namespace(width=320, height=192, fps=30, gop=15, bitrate=400_000, seconds=1.0)
    a.slices = slices
    shaper = DjiShaper(quirks, a.fps)
    out: list[tuple[int, bytes]] = []
    enc = None
    for index, frame in pictures(a, quirks):
        if index >= PICTURES:
            break
        if enc is None or (enc.width, enc.height) != (frame.width, frame.height):
            enc = encoder(frame.width, frame.height, a)
        frame.pts = index
        for packet in enc.encode(frame):
            out += shaper.messages(index, bytes(packet))
    return out


def demux_decode(tags: list[tuple[int, bytes]]) -> tuple[int, list[int | None]]:
    """(packets FFmpeg's FLV demuxer found, the counter read from each decoded picture)."""
    flv = bytearray(FLV_HEADER)
    for timestamp, payload in tags:
        flv += flv_tag(rc.VIDEO, timestamp, payload)
    return decode_flv(bytes(flv))


def decode_flv(flv: bytes) -> tuple[int, list[int | None]]:
    """(packets FFmpeg's FLV demuxer found in `flv`, the counter read from each picture)."""
    packets, counters = 0, []
    with av.open(io.BytesIO(flv), format="flv") as container:
        for packet in container.demux(video=0):
            if packet.size:
                packets += 1
            for frame in packet.decode():
                marks = read_marks(frame.to_ndarray(format="gray"))
                counters.append(marks[0] if marks else None)
    return packets, counters


@pytest.mark.parametrize("quirk", [*QUIRKS, "all"])
def test_every_picture_whole_once(quirk: str) -> None:
    quirks = set(QUIRKS) if quirk == "all" else {quirk}
    joiner = PictureJoiner()
    tags = []
    for timestamp, payload in shaped(quirks):
        tags += joiner.push(timestamp, payload)
    tags += joiner.flush()
    packets, counters = demux_decode(tags)
    assert packets == PICTURES and counters == list(range(PICTURES)), counters
    assert joiner.counts["pictures"] == PICTURES
    assert joiner.counts["nal_units_dropped"] == 0


def test_without_joiner_the_parts_break_pictures() -> None:
    """The failure the joiner exists for (issue 11): the parts as tags of their own."""
    _, counters = demux_decode(shaped({"split-pictures"}))
    assert len(counters) > PICTURES or None in counters


def nalu(ts_key: bool, body: bytes) -> bytes:
    return bytes((0x17 if ts_key else 0x27, 1, 0, 0, 0)) + body


def test_cut_nal_without_its_rest_is_dropped_and_counted() -> None:
    joiner = PictureJoiner()
    slice_a = b"\x65\x88" + bytes(50)  # IDR slice, first_mb_in_slice 0
    slice_b = b"\x41\x9a" + bytes(40)  # P slice, first_mb_in_slice 0
    cut = (len(slice_a)).to_bytes(4, "big") + slice_a[:20]
    assert joiner.push(0, nalu(True, cut)) == []
    # The next message is a new picture (another timestamp), not the rest: dropped, counted.
    out = joiner.push(33, nalu(False, len(slice_b).to_bytes(4, "big") + slice_b))
    assert out == [] and joiner.counts["nal_units_dropped"] == 1
    (timestamp, payload), *_ = joiner.flush()
    assert timestamp == 33 and payload.endswith(slice_b)


def test_garbage_length_never_raises() -> None:
    joiner = PictureJoiner()
    assert joiner.push(0, nalu(True, b"\xff\xff\xff\xff\x65")) == []
    assert joiner.push(0, b"") == [] and joiner.push(0, nalu(False, b"")) == []
    assert joiner.counts["nal_units_dropped"] == 1 and joiner.counts["empty_messages"] == 2
    assert joiner.flush() == []


async def test_extended_timestamps_read_back() -> None:
    """The publisher's chunks with a timestamp above 0xFFFFFF, chunked, read by the ingest."""
    reader = asyncio.StreamReader()
    payload = bytes(range(256)) * 3
    for ts in (0xFFFFFE, 0x1000000, 0x1000021):
        reader.feed_data(chunks(6, rc.VIDEO, payload, 128, 1, ts))
    reader.feed_eof()
    incoming = rc.ChunkReader(reader, 1 << 20)
    got = [await incoming.read_message() for _ in range(3)]
    assert [m.timestamp for m in got] == [0xFFFFFE, 0x1000000, 0x1000021]
    assert all(m.payload == payload for m in got)


def joined(messages: list[tuple[int, bytes]]) -> tuple[PictureJoiner, list[tuple[int, bytes]], int]:
    """The joiner after `messages`, its tags, and how many pictures left with the message
    that completed them (the tag's timestamp is the message's: not one message later)."""
    joiner = PictureJoiner()
    tags: list[tuple[int, bytes]] = []
    at_once = 0
    for timestamp, payload in messages:
        out = joiner.push(timestamp, payload)
        at_once += sum(1 for t, tag in out if t == timestamp and tag[1] == 1)  # a picture
        tags += out
    return joiner, tags + joiner.flush(), at_once


@pytest.mark.parametrize("slices", [1, SLICES])
def test_pictures_in_one_message_leave_without_waiting_once_learned(slices: int) -> None:
    """One frame interval less delay: after LEARN_PICTURES pictures that each came in one
    message (as FLV means it), each picture leaves with its message."""
    joiner, tags, at_once = joined(shaped(set(), slices=slices))
    assert joiner.early
    assert joiner.counts["pictures_early"] == PICTURES - LEARN_PICTURES
    assert at_once == PICTURES - LEARN_PICTURES
    packets, counters = demux_decode(tags)
    assert packets == PICTURES and counters == list(range(PICTURES))


@pytest.mark.parametrize("quirk", ["split-pictures", "split-nal"])
def test_pictures_in_parts_still_wait_for_the_next_message(quirk: str) -> None:
    """DJI's messages carry parts of pictures (a slice each, or a slice cut in two): nothing
    tells the last part, so each picture waits for the next message."""
    joiner, _, at_once = joined(shaped({quirk}))
    assert not joiner.early and at_once == 0
    assert joiner.counts["pictures"] == PICTURES and joiner.counts["pictures_early"] == 0


def test_a_further_part_after_an_early_picture_is_dropped_and_ends_early_mode() -> None:
    """A publisher that starts splitting its pictures over messages after it was learned as
    one that does not: that picture's further slices are dropped (it left already), counted,
    and its later pictures are joined whole again, each a message later."""
    switch_at = LEARN_PICTURES + 5
    one_slice = [m for m in shaped(set(), slices=1) if m[0] < switch_at * 1000 // 30]
    sliced = [m for m in shaped({"split-pictures"}) if m[0] >= switch_at * 1000 // 30]
    joiner, tags, at_once = joined(one_slice + sliced)
    assert joiner.counts["early_misses"] == 1 and not joiner.early
    assert joiner.counts["nal_units_dropped"] >= 1  # the switching picture's further slices
    assert joiner.counts["pictures_early"] == switch_at - LEARN_PICTURES + 1
    assert at_once == switch_at - LEARN_PICTURES + 1  # none after the switch
    assert tags[0][1][1] == 0  # the AVC sequence header, then one tag a picture
    assert len(tags) - 1 == joiner.counts["pictures"] == PICTURES
    _, counters = demux_decode(tags[: switch_at + 1])
    assert counters == list(range(switch_at))
