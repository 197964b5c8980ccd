"""The RTMP ingest's wire codecs on hostile and tricky input: AMF0 and the chunk stream."""

from __future__ import annotations

import asyncio

import pytest

from relay.sources import amf0
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_pipe import FlvPipe, flv_tag


def test_amf0_round_trip_and_limits() -> None:
    values = ["publish", 5.0, None, "key", {"app": "live", "n": 1.0, "ok": True}]
    assert amf0.decode_all(amf0.encode(*values)) == values
    with pytest.raises(amf0.AmfError):
        amf0.decode_all(amf0.encode("connect")[:-2])  # truncated
    with pytest.raises(amf0.AmfError):
        amf0.decode_all(b"\x0a\x00\x00\x00\x01" * 20 + b"\x05")  # arrays nested 20 deep
    with pytest.raises(amf0.AmfError):
        amf0.decode_all(b"\x0a\xff\xff\xff\xff")  # a 4-billion-item array
    with pytest.raises(amf0.AmfError):
        amf0.decode_all(b"\x11")  # unknown marker


def chunked(csid: int, fmt: int, header: bytes, body: bytes) -> bytes:
    return bytes((fmt << 6 | csid,)) + header + body


async def read_all(data: bytes, max_message: int = 1 << 20) -> list[rc.Message]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    chunks = rc.ChunkReader(reader, max_message)
    out = []
    try:
        while True:
            msg = await chunks.read_message()
            if msg.type == rc.SET_CHUNK_SIZE:
                chunks.set_chunk_size(msg.payload)
            out.append(msg)
    except asyncio.IncompleteReadError:
        return out


async def test_interleaved_chunks_deltas_and_extended_timestamps() -> None:
    video = bytes(range(200))  # longer than the 128-byte default chunk: two chunks
    data = b"".join(
        [
            # csid 6, type 0, ts 1000, len 200, video, stream 1: first chunk
            chunked(
                6,
                0,
                (1000).to_bytes(3, "big")
                + (200).to_bytes(3, "big")
                + b"\x09"
                + (1).to_bytes(4, "little"),
                video[:128],
            ),
            # interleaved: a whole command on csid 3
            rc.encode_message(3, rc.COMMAND_AMF0, amf0.encode("FCPublish", 2.0, None, "k"), 128),
            chunked(6, 3, b"", video[128:]),  # rest of the video message
        ]
    )
    # type 1: delta 33, new length 3; then type 3: same delta again
    data += chunked(6, 1, (33).to_bytes(3, "big") + (3).to_bytes(3, "big") + b"\x09", b"abc")
    data += chunked(6, 3, b"", b"def")
    # an extended timestamp (>= 0xFFFFFF) on a type-0 header
    data += chunked(
        7,
        0,
        b"\xff\xff\xff" + (2).to_bytes(3, "big") + b"\x09" + bytes(4),
        (0x1234567).to_bytes(4, "big") + b"xy",
    )
    expected = [
        (rc.COMMAND_AMF0, 0, amf0.encode("FCPublish", 2.0, None, "k")),
        (rc.VIDEO, 1000, video),
        (rc.VIDEO, 1033, b"abc"),
        (rc.VIDEO, 1066, b"def"),
        (rc.VIDEO, 0x1234567, b"xy"),
    ]
    messages = await read_all(data)
    assert [(m.type, m.timestamp, m.payload) for m in messages] == expected
    # The same bytes a byte at a time (TCP may cut anywhere): a chunk is taken only whole,
    # so nothing is taken twice or lost, and every byte is counted once for the acks.
    bytewise = rc.ChunkReader(None, 1 << 20)
    messages = []
    for i in range(len(data)):
        bytewise.feed(data[i : i + 1])
        while (msg := bytewise.next_message()) is not None:
            messages.append(msg)
    assert [(m.type, m.timestamp, m.payload) for m in messages] == expected
    assert bytewise.bytes_read == len(data)


async def test_chunk_stream_limits() -> None:
    big = chunked(4, 0, bytes(3) + (2_000_000).to_bytes(3, "big") + b"\x09" + bytes(4), b"")
    with pytest.raises(rc.RtmpProtocolError, match="limit"):
        await read_all(big, max_message=1 << 20)
    # 40 chunk streams (csid 64+n, two-byte form), one byte message each
    many = b"".join(
        bytes((0, n)) + bytes(3) + (1).to_bytes(3, "big") + b"\x09" + bytes(4) + b"x"
        for n in range(40)
    )
    with pytest.raises(rc.RtmpProtocolError, match="chunk streams"):
        await read_all(many)
    with pytest.raises(rc.RtmpProtocolError, match="chunk size"):
        await read_all(rc.encode_message(2, rc.SET_CHUNK_SIZE, (0).to_bytes(4, "big"), 128))


def test_flv_pipe_is_bounded_and_ends() -> None:
    pipe = FlvPipe("127.0.0.1:1", read_timeout_s=0.2)
    assert pipe.read(3) == b"FLV"
    tag = flv_tag(9, 0x01020304, b"abc")
    assert tag[:8] == b"\x09\x00\x00\x03\x02\x03\x04\x01" and tag[-4:] == (14).to_bytes(4, "big")
    assert pipe.feed(tag)
    assert not pipe.feed(bytes(17 * 1024 * 1024)), "an unread pipe must not grow without end"
    pipe.read()
    assert pipe.read() == b"" and pipe.stalled  # nothing for read_timeout_s
    pipe.end()
    assert not pipe.feed(b"x") and pipe.read() == b""
