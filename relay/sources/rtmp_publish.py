"""An RTMP publisher that controls every message boundary: the fake drone's DJI mode and tests.

PyAV's (libavformat's) FLV muxer writes one message per picture; it cannot split a picture, cut
a NAL unit, send an SEI alone or an empty message the way DJI controllers do. This client
speaks the few commands a publisher needs (connect, createStream, publish) over the same
chunk stream and AMF0 code the ingest reads with, and writes each message as given, with an
extended timestamp when it is above 0xFFFFFF (RTMP spec 5.3.1.3).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import unquote, urlsplit

from relay.sources import amf0
from relay.sources import rtmp_chunks as rc

COMMAND_CSID, DATA_CSID, VIDEO_CSID = 3, 4, 6
TIMEOUT_S = 10.0


class PublishRefused(Exception):
    """The server answered connect or publish with an error (or did not answer)."""


def chunks(
    csid: int, msg_type: int, payload: bytes, chunk_size: int, stream_id: int, timestamp: int
) -> bytes:
    """One message as a type-0 chunk and type-3 continuations, extended timestamp included."""
    extended = timestamp >= 0xFFFFFF
    ext = (timestamp & 0xFFFFFFFF).to_bytes(4, "big") if extended else b""
    out = bytearray((csid,))
    out += min(timestamp, 0xFFFFFF).to_bytes(3, "big") + len(payload).to_bytes(3, "big")
    out.append(msg_type)
    out += stream_id.to_bytes(4, "little") + ext
    for offset in range(0, max(len(payload), 1), chunk_size):
        if offset:
            out += bytes((0xC0 | csid,)) + ext  # type-3 chunks repeat the extended timestamp
        out += payload[offset : offset + chunk_size]
    return bytes(out)


class RtmpPublisher:
    """One publishing connection: open(), then video()/data(), then close()."""

    def __init__(self, url: str, chunk_size: int = 4096) -> None:
        parts = urlsplit(url)
        app, _, key = parts.path.strip("/").partition("/")
        self.url, self.app, self.key = url, unquote(app), unquote(key)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1935
        self.chunk_size = chunk_size
        self.stream_id = 1
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Handshake, connect, createStream, publish; PublishRefused on an error answer."""
        reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), TIMEOUT_S
        )
        self._reader = reader
        async with asyncio.timeout(TIMEOUT_S):
            await self._handshake()
            incoming = rc.ChunkReader(reader, 1 << 20)
            await self.set_chunk_size(self.chunk_size)
            tc_url = f"rtmp://{self.host}:{self.port}/{self.app}"
            await self._command(
                "connect",
                1.0,
                {"app": self.app, "type": "nonprivate", "flashVer": "FMLE/3.0", "tcUrl": tc_url},
            )
            await self._answer(incoming, 1.0)
            await self._command("releaseStream", 2.0, None, self.key)
            await self._command("FCPublish", 3.0, None, self.key)
            await self._command("createStream", 4.0, None)
            result = await self._answer(incoming, 4.0)
            if len(result) > 3 and isinstance(result[3], float):
                self.stream_id = int(result[3])
            await self._command("publish", 5.0, None, self.key, "live", stream_id=self.stream_id)
            await self._status(incoming)
        # The server's acknowledgements must be read, or its send buffer fills one day.
        self._drain_task = asyncio.get_running_loop().create_task(self._discard())

    async def _handshake(self) -> None:
        assert self._reader is not None and self._writer is not None
        c1 = bytes(8) + os.urandom(rc.HANDSHAKE_SIZE - 8)
        self._writer.write(bytes((rc.RTMP_VERSION,)) + c1)
        await self._writer.drain()
        s0s1 = await self._reader.readexactly(1 + rc.HANDSHAKE_SIZE)
        await self._reader.readexactly(rc.HANDSHAKE_SIZE)  # S2, the echo of C1
        self._writer.write(s0s1[1:])  # C2 echoes S1
        await self._writer.drain()

    @staticmethod
    async def _next_command(incoming: rc.ChunkReader) -> list[Any]:
        """The next AMF0 command's values (a chunk-size change on the way is applied)."""
        while True:
            msg = await incoming.read_message()
            if msg.type == rc.SET_CHUNK_SIZE:
                incoming.set_chunk_size(msg.payload)
            if msg.type == rc.COMMAND_AMF0:
                return list(amf0.decode_all(msg.payload))

    async def _answer(self, incoming: rc.ChunkReader, txn: float) -> list[Any]:
        """The server's _result for transaction `txn`; PublishRefused on _error."""
        while True:
            values = await self._next_command(incoming)
            if values[:1] == ["_error"]:
                raise PublishRefused(str(values[3:]))
            if values[:2] == ["_result", txn]:
                return values

    async def _status(self, incoming: rc.ChunkReader) -> None:
        while True:
            values = await self._next_command(incoming)
            if values[:1] == ["onStatus"] and len(values) > 3 and isinstance(values[3], dict):
                if values[3].get("level") == "error":
                    raise PublishRefused(str(values[3].get("description")))
                if values[3].get("code") == "NetStream.Publish.Start":
                    return

    async def _discard(self) -> None:
        assert self._reader is not None
        try:
            while await self._reader.read(65536):
                pass
        except OSError:
            pass

    async def _command(self, *values: Any, stream_id: int = 0) -> None:
        await self.send(COMMAND_CSID, rc.COMMAND_AMF0, amf0.encode(*values), 0, stream_id)

    async def send(
        self, csid: int, msg_type: int, payload: bytes, timestamp: int, stream_id: int = 0
    ) -> None:
        """Writes one message as it is given."""
        assert self._writer is not None
        self._writer.write(chunks(csid, msg_type, payload, self.chunk_size, stream_id, timestamp))
        await self._writer.drain()

    async def set_chunk_size(self, size: int) -> None:
        """Announces and switches to a new outgoing chunk size."""
        assert self._writer is not None
        self._writer.write(chunks(2, rc.SET_CHUNK_SIZE, size.to_bytes(4, "big"), 128, 0, 0))
        self.chunk_size = size
        await self._writer.drain()

    async def video(self, timestamp: int, payload: bytes) -> None:
        """One FLV video tag payload as one RTMP video message."""
        await self.send(VIDEO_CSID, rc.VIDEO, payload, timestamp, self.stream_id)

    async def data(self, *values: Any) -> None:
        """A data message (@setDataFrame onMetaData …)."""
        await self.send(DATA_CSID, rc.DATA_AMF0, amf0.encode(*values), 0, self.stream_id)

    async def close(self) -> None:
        """FCUnpublish and deleteStream, then closes the connection."""
        if self._writer is None:
            return
        try:
            await self._command("FCUnpublish", 6.0, None, self.key)
            await self._command("deleteStream", 7.0, None, float(self.stream_id))
        except OSError:
            pass
        if self._drain_task is not None:
            self._drain_task.cancel()
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
        self._writer = None
