"""The RTMP chunk stream: the simple handshake, reading whole messages out of interleaved
chunks, and writing the server's few messages.

Timestamps follow libavformat's rtmppkt.c (a type-0 header is absolute, the other types add
to the chunk stream's previous timestamp), so a pusher that works with FFmpeg's listener
works here. Everything read is bounded: message size, chunk size, chunk streams.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

HANDSHAKE_SIZE = 1536
RTMP_VERSION = 3
MAX_CHUNK_SIZE = 1 << 24
MAX_CHUNK_STREAMS = 32
READ_SIZE = 64 * 1024  # what one read takes from the connection at most

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
    """Reads whole messages; `max_message` bounds one message's size (settable).

    The parsing takes only bytes already received (a chunk is taken once all of it is there),
    so one reader serves the event loop while a publisher negotiates (read_message) and then,
    with whatever it has read ahead, the publisher's media thread (read_message_from)."""

    def __init__(self, reader: asyncio.StreamReader | None, max_message: int) -> None:
        self.reader = reader
        self.max_message = max_message
        self.chunk_size = 128
        self.bytes_read = 0  # bytes of the chunks taken so far (what acknowledgements count)
        self._streams: dict[int, _ChunkStream] = {}
        self._buf = bytearray()
        self._at = 0  # where the next chunk starts in _buf

    def feed(self, data: bytes) -> None:
        """Bytes received, in order."""
        if self._at:
            del self._buf[: self._at]
            self._at = 0
        self._buf += data

    def next_message(self) -> Message | None:
        """The next whole message among the bytes fed so far, or None until more arrive."""
        while True:
            taken = self._take_chunk()
            if taken is False:
                return None
            if taken is not True:
                return taken

    async def read_message(self) -> Message:
        """The next whole message (control messages included; the caller handles them)."""
        while (message := self.next_message()) is None:
            assert self.reader is not None, "a reader without a StreamReader is fed by hand"
            self._feed_read(await self.reader.read(READ_SIZE))
        return message

    def read_message_from(self, recv: Callable[[int], bytes]) -> Message:
        """read_message for a thread: `recv` (a socket's, with its timeout) blocks."""
        while (message := self.next_message()) is None:
            self._feed_read(recv(READ_SIZE))
        return message

    def _feed_read(self, data: bytes) -> None:
        """What one read returned; nothing means the peer closed mid-message."""
        if not data:
            raise asyncio.IncompleteReadError(bytes(self._buf[self._at :]), None)
        self.feed(data)

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

    def _take_chunk(self) -> Message | bool:
        """Takes one chunk: the message it completes, True when it completes none, False
        (nothing taken) while the whole chunk has not arrived."""
        buf, end = self._buf, len(self._buf)
        at = self._at
        if at >= end:
            return False
        first = buf[at]
        fmt, csid = first >> 6, first & 0x3F
        pos = at + 1
        if csid == 0:
            if end < pos + 1:
                return False
            csid, pos = 64 + buf[pos], pos + 1
        elif csid == 1:
            if end < pos + 2:
                return False
            csid, pos = 64 + buf[pos] + buf[pos + 1] * 256, pos + 2
        stream = self._streams.get(csid)
        if stream is None and len(self._streams) >= MAX_CHUNK_STREAMS:
            raise RtmpProtocolError("too many chunk streams")
        known = stream if stream is not None else _ChunkStream()
        size = (11, 7, 3, 0)[fmt]
        if end < pos + size:
            return False
        header, pos = bytes(buf[pos : pos + size]), pos + size
        if fmt < 3:
            ts_field = int.from_bytes(header[0:3], "big")
            extended = ts_field == 0xFFFFFF
            length = int.from_bytes(header[3:6], "big") if fmt < 2 else known.length
            have = 0  # a new header always starts a new message
        else:
            ts_field, extended, length, have = (
                known.ts_field,
                known.extended,
                known.length,
                len(known.buf),
            )
        ext = 0
        if extended:
            if end < pos + 4:
                return False
            ext, pos = int.from_bytes(buf[pos : pos + 4], "big"), pos + 4
        if length > self.max_message:
            raise RtmpProtocolError(f"message of {length} bytes (limit {self.max_message})")
        want = min(self.chunk_size, length - have)
        if end < pos + want:
            return False
        # The whole chunk is here: from now on it is taken.
        if stream is None:
            stream = self._streams[csid] = known
        if fmt < 3:
            stream.ts_field = ext if extended else ts_field
            if fmt < 2:
                stream.length, stream.type = length, header[6]
            if fmt == 0:
                stream.stream_id = int.from_bytes(header[7:11], "little")
            stream.extended = extended
            stream.buf.clear()
        elif extended and not stream.buf:
            stream.ts_field = ext
        if not stream.buf:
            if fmt == 0:
                stream.timestamp = stream.ts_field
            else:
                stream.timestamp = (stream.timestamp + stream.ts_field) & 0xFFFFFFFF
        with memoryview(buf) as view:
            stream.buf += view[pos : pos + want]
        pos += want
        self.bytes_read += pos - at
        self._at = pos
        if len(stream.buf) < stream.length:
            return True
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
