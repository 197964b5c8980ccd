"""The RTMP chunk stream: the simple handshake, reading whole messages out of interleaved
chunks, and writing the server's few messages.

Timestamps follow libavformat's rtmppkt.c (a type-0 header is absolute, the other types add
to the chunk stream's previous timestamp), so a pusher that works with FFmpeg's listener
works here. Everything read is bounded: message size, chunk size, chunk streams.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

HANDSHAKE_SIZE = 1536
RTMP_VERSION = 3
MAX_CHUNK_SIZE = 1 << 24
MAX_CHUNK_STREAMS = 32

# Message types (RTMP spec 5.4, 7.1)
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0 = 8, 9, 15, 17, 18, 20


class RtmpProtocolError(Exception):
    """The peer broke the RTMP protocol or a limit."""


@dataclass
class Message:
    """One whole RTMP message."""

    type: int
    stream_id: int
    timestamp: int  # ms
    payload: bytes


@dataclass
class _ChunkStream:
    ts_field: int = 0  # the header's timestamp field: absolute (type 0) or delta
    timestamp: int = 0
    length: int = 0
    type: int = 0
    stream_id: int = 0
    extended: bool = False
    buf: bytearray = field(default_factory=bytearray)


async def server_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The simple (non-digest) handshake, as libavformat's listener does it: S1 with zero
    version bytes tells the client not to expect a digest; S2 echoes C1."""
    c0c1 = await reader.readexactly(1 + HANDSHAKE_SIZE)
    if c0c1[0] != RTMP_VERSION:
        raise RtmpProtocolError(f"RTMP version {c0c1[0]} (not RTMP, or RTMPE)")
    s1 = bytes(8) + os.urandom(HANDSHAKE_SIZE - 8)
    writer.write(bytes((RTMP_VERSION,)) + s1 + c0c1[1:])
    await writer.drain()
    await reader.readexactly(HANDSHAKE_SIZE)  # C2: the echo of S1, nothing to learn from it


class ChunkReader:
    """Reads whole messages; `max_message` bounds one message's size (settable)."""

    def __init__(self, reader: asyncio.StreamReader, max_message: int) -> None:
        self.reader = reader
        self.max_message = max_message
        self.chunk_size = 128
        self.bytes_read = 0
        self._streams: dict[int, _ChunkStream] = {}

    async def _take(self, n: int) -> bytes:
        data = await self.reader.readexactly(n)
        self.bytes_read += n
        return data

    def set_chunk_size(self, payload: bytes) -> None:
        if len(payload) < 4:
            raise RtmpProtocolError("short Set Chunk Size")
        size = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise RtmpProtocolError(f"chunk size {size} out of range")
        self.chunk_size = size

    def abort(self, payload: bytes) -> None:
        if len(payload) >= 4:
            stream = self._streams.get(int.from_bytes(payload[:4], "big"))
            if stream is not None:
                stream.buf.clear()

    async def read_message(self) -> Message:
        """The next whole message (control messages included; the caller handles them)."""
        while True:
            message = await self._read_chunk()
            if message is not None:
                return message

    async def _read_chunk(self) -> Message | None:
        first = (await self._take(1))[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = 64 + (await self._take(1))[0]
        elif csid == 1:
            extra = await self._take(2)
            csid = 64 + extra[0] + extra[1] * 256
        stream = self._streams.get(csid)
        if stream is None:
            if len(self._streams) >= MAX_CHUNK_STREAMS:
                raise RtmpProtocolError("too many chunk streams")
            stream = self._streams[csid] = _ChunkStream()
        if fmt < 3:
            header = await self._take((11, 7, 3)[fmt])
            stream.ts_field = int.from_bytes(header[0:3], "big")
            if fmt < 2:
                stream.length = int.from_bytes(header[3:6], "big")
                stream.type = header[6]
            if fmt == 0:
                stream.stream_id = int.from_bytes(header[7:11], "little")
            stream.extended = stream.ts_field == 0xFFFFFF
            if stream.extended:
                stream.ts_field = int.from_bytes(await self._take(4), "big")
            stream.buf.clear()  # a new header always starts a new message
        elif stream.extended:
            ext = int.from_bytes(await self._take(4), "big")
            if not stream.buf:
                stream.ts_field = ext
        if not stream.buf:
            if fmt == 0:
                stream.timestamp = stream.ts_field
            else:
                stream.timestamp = (stream.timestamp + stream.ts_field) & 0xFFFFFFFF
        if stream.length > self.max_message:
            raise RtmpProtocolError(f"message of {stream.length} bytes (limit {self.max_message})")
        want = min(self.chunk_size, stream.length - len(stream.buf))
        if want:
            stream.buf += await self._take(want)
        if len(stream.buf) < stream.length:
            return None
        payload = bytes(stream.buf)
        stream.buf.clear()
        return Message(stream.type, stream.stream_id, stream.timestamp, payload)


def encode_message(
    csid: int,
    msg_type: int,
    payload: bytes,
    chunk_size: int,
    stream_id: int = 0,
    timestamp: int = 0,
) -> bytes:
    """One message as chunks: a full (type 0) header, then type-3 continuations."""
    if not 2 <= csid <= 63:
        raise ValueError("csid must be within 2..63")
    out = bytearray((csid,))
    out += min(timestamp, 0xFFFFFF).to_bytes(3, "big") + len(payload).to_bytes(3, "big")
    out.append(msg_type)
    out += stream_id.to_bytes(4, "little")
    for offset in range(0, max(len(payload), 1), chunk_size):
        if offset:
            out.append(0xC0 | csid)
        out += payload[offset : offset + chunk_size]
    return bytes(out)
