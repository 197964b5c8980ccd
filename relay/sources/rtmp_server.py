"""The server's side of an RTMP connection up to `publish`: the commands it answers, the
refusals it sends, and the few messages it writes (relay.sources.rtmp_ingest admits and
reads the publisher)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from relay.sources import amf0
from relay.sources import rtmp_chunks as rc

OUT_CHUNK_SIZE = 4096
WINDOW = 2_500_000
STREAM_ID = 1


class Refused(Exception):
    """A publisher the stream does not admit; the message is the reason logged."""

    def __init__(self, reason: str, code: str, description: str) -> None:
        super().__init__(reason)
        self.code, self.description = code, description


async def negotiate(
    chunks: rc.ChunkReader, send: Sender, expected_app: str, expected_key: bytes
) -> rc.Message:
    """Answers connect/createStream/…; returns the admitted `publish` command."""
    connected = False
    while True:
        msg = await chunks.read_message()
        if msg.type in (rc.AUDIO, rc.VIDEO, rc.DATA_AMF0, rc.DATA_AMF3):
            raise Refused("media before publish", "NetStream.Publish.BadName", "publish first")
        if control(chunks, send, msg) or msg.type not in (
            rc.COMMAND_AMF0,
            rc.COMMAND_AMF3,
        ):
            continue
        name, txn, args = command_of(msg)
        if name == "connect":
            app = args[0].get("app") if args and isinstance(args[0], dict) else None
            if not isinstance(app, str) or not hmac.compare_digest(
                app.encode("utf-8"), expected_app.encode("utf-8")
            ):
                raise Refused(
                    f"wrong app {str(app)[:64]!r}",
                    "NetConnection.Connect.Rejected",
                    "unknown application",
                )
            await send.connect_result(txn)
            connected = True
        elif not connected:
            raise rc.RtmpProtocolError(f"{name!r} before connect")
        elif name == "createStream":
            await send.command("_result", txn, None, STREAM_ID)
        elif name == "play":
            raise Refused(
                "tried to play",
                "NetStream.Play.Failed",
                "this relay takes publishers only; watch over WebRTC",
            )
        elif name == "publish":
            key = args[0] if args else None
            if not isinstance(key, str) or not hmac.compare_digest(
                key.encode("utf-8"), expected_key
            ):
                raise Refused("wrong stream key", "NetStream.Publish.BadName", "stream key refused")
            return msg
        elif txn:  # releaseStream, FCPublish, _checkbw …: acknowledged, nothing to do
            await send.command("_result", txn, None)
        if name == "FCPublish":  # some encoders wait for it (nginx-rtmp sends it too)
            await send.command(
                "onFCPublish",
                0,
                None,
                status("status", "NetStream.Publish.Start", "FCPublish"),
            )


def control(chunks: rc.ChunkReader, send: Sender, msg: rc.Message) -> bool:
    """Handles protocol control messages (on the event loop); True when `msg` was one."""
    if not apply_control(chunks, send, msg):
        return False
    send.maybe_ack(chunks.bytes_read)
    return True


def apply_control(chunks: rc.ChunkReader, send: Sender, msg: rc.Message) -> bool:
    """What a protocol control message changes, without writing anything (the publisher's
    media thread writes its own acknowledgements); True when `msg` was one."""
    if msg.type == rc.SET_CHUNK_SIZE:
        chunks.set_chunk_size(msg.payload)
    elif msg.type == rc.ABORT:
        chunks.abort(msg.payload)
    elif msg.type == rc.WINDOW_ACK_SIZE and len(msg.payload) >= 4:
        send.ack_window = max(4096, int.from_bytes(msg.payload[:4], "big"))
    elif msg.type not in (rc.ACK, rc.USER_CONTROL, rc.PEER_BANDWIDTH):
        return False
    return True


async def linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Closes our side, then reads and discards until the peer closes (2 s at most): closing
    with the peer's bytes unread would reset the connection, and the peer would lose the
    error that says why it was refused."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(2.0):
            while await reader.read(65536):
                pass
    except (TimeoutError, OSError):
        pass


def status(level: str, code: str, description: str) -> dict[str, Any]:
    return {"level": level, "code": code, "description": description}


def command_of(msg: rc.Message) -> tuple[str, float, list[Any]]:
    """(name, transaction id, arguments after the command object) of a command message."""
    payload = msg.payload[1:] if msg.type == rc.COMMAND_AMF3 else msg.payload
    values = amf0.decode_all(payload)
    if len(values) < 2 or not isinstance(values[0], str):
        raise rc.RtmpProtocolError("malformed command")
    txn = values[1] if isinstance(values[1], float) else 0.0
    return values[0], txn, values[2:] if values[0] == "connect" else values[3:]


class Sender:
    """The server's side of the chunk stream: a handful of small messages."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.chunk_size = 128
        self.ack_window = 0  # set by the peer's Window Acknowledgement Size
        self._acked = 0

    async def control(self, msg_type: int, payload: bytes) -> None:
        self.writer.write(rc.encode_message(2, msg_type, payload, self.chunk_size))
        await self.writer.drain()

    async def command(self, *values: Any, stream_id: int = 0) -> None:
        self.writer.write(
            rc.encode_message(
                3, rc.COMMAND_AMF0, amf0.encode(*values), self.chunk_size, stream_id=stream_id
            )
        )
        await self.writer.drain()

    async def connect_result(self, txn: float) -> None:
        # The same answer as libavformat's listener gives, in the same order.
        await self.control(rc.WINDOW_ACK_SIZE, WINDOW.to_bytes(4, "big"))
        await self.control(rc.PEER_BANDWIDTH, WINDOW.to_bytes(4, "big") + b"\x02")
        await self.control(rc.USER_CONTROL, bytes(6))  # Stream Begin 0
        await self.control(rc.SET_CHUNK_SIZE, OUT_CHUNK_SIZE.to_bytes(4, "big"))
        self.chunk_size = OUT_CHUNK_SIZE
        await self.command(
            "_result",
            txn,
            {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
            {
                **status("status", "NetConnection.Connect.Success", "Connection succeeded."),
                "objectEncoding": 0,
            },
        )

    def maybe_ack(self, received: int) -> None:
        """Acknowledges received bytes once per window, for publishers that wait for it."""
        ack = self.ack_due(received)
        if ack is not None:
            self.writer.write(ack)

    def ack_due(self, received: int) -> bytes | None:
        """The acknowledgement to write for `received` bytes, once per window; else None."""
        if not self.ack_window or received - self._acked < self.ack_window:
            return None
        self._acked = received
        return rc.encode_message(
            2, rc.ACK, (received & 0xFFFFFFFF).to_bytes(4, "big"), self.chunk_size
        )
