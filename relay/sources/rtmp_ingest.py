"""RTMP ingest for one stream: listens on the source URL's port, admits only a publisher that
names the URL's app and key, and hands its video to the demuxer thread as FLV.

Why not FFmpeg's own listener: libavformat's rtmpproto.c (listen mode) accepts any app and
any stream key and only logs a warning ("App field don't match up", "Unexpected stream"),
gives no peer address, and serves one TCP connection per listen. Here the check happens on
the `connect` and `publish` commands, before any media is read: a refused publisher gets an
RTMP error, is logged with its address and written to the audit log, and none of its bytes
reach the demuxer. The demuxer stays FFmpeg's (FLV), fed through a FlvPipe.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from relay.errors import SourceError
from relay.sources import amf0
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_joiner import PictureJoiner
from relay.sources.flv_pipe import FlvPipe, flv_tag
from relay.sources.redact import redact_url

log = logging.getLogger(__name__)

Audit = Callable[..., Any]  # AuditLog.append(event, who, where, **details)

HANDSHAKE_TIMEOUT_S = 3.0  # TCP connect to the end of the RTMP handshake …
NEGOTIATE_TIMEOUT_S = 10.0  # … and to publish; a drone does both in well under 1 s
READ_TIMEOUT_S = 4.0  # a publisher silent this long is gone (LTE lost)
# Connections that have not published are unauthenticated: one host holds at most
# MAX_PENDING_PER_HOST (more are closed at once), and when all MAX_PENDING are taken a new
# connection pushes out the idlest (handshake unfinished first, then the oldest) instead of
# being refused, so idle connections from many hosts cannot lock the drone out.
MAX_PENDING = 32
MAX_PENDING_PER_HOST = 4
MAX_REFUSALS = 10  # refused attempts of one host within REFUSAL_WINDOW_S: then it is ignored
REFUSAL_WINDOW_S = 60.0
MAX_TRACKED_HOSTS = 1024
MAX_COMMAND = 64 * 1024
MAX_MEDIA_MESSAGE = 8 * 1024 * 1024  # a 4K IDR at a high bitrate stays well below
OUT_CHUNK_SIZE = 4096
WINDOW = 2_500_000
STREAM_ID = 1
REBIND_S = 5.0


class Refused(Exception):
    """A publisher the stream does not admit; the message is the reason logged."""

    def __init__(self, reason: str, code: str, description: str) -> None:
        super().__init__(reason)
        self.code, self.description = code, description


@dataclass
class _Pending:
    """A connection that has not published (yet)."""

    host: str
    where: str
    shaken: bool = False  # its RTMP handshake is done


class RtmpIngest:
    """The listening side of an rtmp:// source; start()/aclose() pair up, owned by the Stream."""

    def __init__(self, stream: str, url: str, audit: Audit | None = None) -> None:
        parts = urlsplit(url)
        app, key = (unquote(p) for p in parts.path.strip("/").split("/"))
        self.stream, self.url = stream, url
        self.host, self.port = parts.hostname or "0.0.0.0", parts.port or 1935
        self._app, self._key = app, key.encode("utf-8")
        self._audit = audit
        self.bind_error = ""
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._bind_task: asyncio.Task[None] | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._pending: dict[asyncio.Task[None], _Pending] = {}  # oldest first
        self._refusals: dict[str, deque[float]] = {}
        self._active: FlvPipe | None = None
        self._handoff: queue.Queue[FlvPipe] = queue.Queue()
        # What the picture joiner repaired for the current (or last) publisher.
        self.repairs: Counter[str] = Counter()

    async def start(self) -> None:
        """Listens now, or keeps retrying in the background if the port is taken."""
        if not await self._bind():
            self._bind_task = asyncio.get_running_loop().create_task(self._rebind())

    async def _bind(self) -> bool:
        try:
            self._server = await asyncio.start_server(
                self._on_connection, self.host, self.port, reuse_address=True
            )
        except OSError as exc:
            self.bind_error = f"{redact_url(self.url)}: cannot listen: {exc.strerror}"
            log.error(
                "[stream %s] %s; retrying every %.0f s", self.stream, self.bind_error, REBIND_S
            )
            return False
        self.bind_error = ""
        return True

    async def _rebind(self) -> None:
        bound = False
        while not bound:
            await asyncio.sleep(REBIND_S)
            bound = await self._bind()

    async def aclose(self) -> None:
        """Stops listening and drops every connection; safe to call twice."""
        if self._bind_task is not None:
            self._bind_task.cancel()
            self._bind_task = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)

    def next_publisher(self, stop: threading.Event) -> FlvPipe | None:
        """The next admitted publisher's pipe (source thread); None once `stop` is set."""
        while not stop.is_set():
            if self.bind_error:
                raise SourceError(self.bind_error)
            try:
                pipe = self._handoff.get(timeout=0.2)
            except queue.Empty:
                continue
            if not pipe.ended:
                return pipe
        return None

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        where = f"{host}:{peer[1]}" if isinstance(peer, tuple) else host
        try:
            if self._admissible(host, where):
                self._pending[task] = _Pending(host, where)
                await self._session(reader, writer, host, where)
        except asyncio.CancelledError:
            pass
        finally:
            self._pending.pop(task, None)
            self._sessions.discard(task)
            writer.close()

    def _admissible(self, host: str, where: str) -> bool:
        """False for a host that keeps being refused or holds too many pending connections."""
        recent = self._refusals.get(host)
        now = time.monotonic()
        while recent and now - recent[0] > REFUSAL_WINDOW_S:
            recent.popleft()
        if recent is not None and not recent:
            del self._refusals[host]
        elif recent is not None and len(recent) >= MAX_REFUSALS:
            log.debug(
                "[stream %s] RTMP connection from %s ignored (refused too often)",
                self.stream,
                where,
            )
            return False
        if sum(1 for p in self._pending.values() if p.host == host) >= MAX_PENDING_PER_HOST:
            log.warning(
                "[stream %s] RTMP connection from %s closed: that host has %d connections "
                "still negotiating",
                self.stream,
                where,
                MAX_PENDING_PER_HOST,
            )
            return False
        if len(self._pending) >= MAX_PENDING:
            self._evict_idlest(where)
        return True

    def _evict_idlest(self, newcomer: str) -> None:
        # min() keeps the first of equals: the oldest unfinished handshake, else the oldest.
        task, idlest = min(self._pending.items(), key=lambda item: item[1].shaken)
        del self._pending[task]
        task.cancel()
        log.info(
            "[stream %s] RTMP connection from %s closed unpublished to make room for %s",
            self.stream,
            idlest.where,
            newcomer,
        )

    def _count_refusal(self, host: str) -> int:
        if host not in self._refusals and len(self._refusals) >= MAX_TRACKED_HOSTS:
            self._refusals.pop(next(iter(self._refusals)))
        recent = self._refusals.setdefault(host, deque())
        recent.append(time.monotonic())
        return len(recent)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, where: str
    ) -> None:
        task = asyncio.current_task()
        pending = self._pending.get(task) if task is not None else None
        chunks = rc.ChunkReader(reader, MAX_COMMAND)
        send = _Sender(writer)
        try:
            async with asyncio.timeout(NEGOTIATE_TIMEOUT_S):
                async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                    await rc.server_handshake(reader, writer)
                if pending is not None:
                    pending.shaken = True
                publish = await self._negotiate(chunks, send)
        except Refused as refusal:
            await self._refuse(send, host, where, refusal)
            await _linger(reader, writer)
            return
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            rc.RtmpProtocolError,
            amf0.AmfError,
        ) as exc:
            log.info(
                "[stream %s] RTMP connection from %s ended before publishing: %s",
                self.stream,
                where,
                exc or type(exc).__name__,
            )
            return
        finally:
            if task is not None:
                self._pending.pop(task, None)
        if self._active is not None and not self._active.ended:
            await self._refuse(
                send,
                host,
                where,
                Refused(
                    "another publisher is live",
                    "NetStream.Publish.BadName",
                    "the stream already has a publisher",
                ),
            )
            await _linger(reader, writer)
            return
        pipe = FlvPipe(where, READ_TIMEOUT_S)
        self._active = pipe  # before any await: a concurrent publish sees the slot taken
        try:
            await self._publish(chunks, send, where, publish, pipe)
        finally:
            pipe.end()
            if self._active is pipe:
                self._active = None

    async def _negotiate(self, chunks: rc.ChunkReader, send: _Sender) -> rc.Message:
        """Answers connect/createStream/…; returns the admitted `publish` command."""
        connected = False
        while True:
            msg = await chunks.read_message()
            if msg.type in (rc.AUDIO, rc.VIDEO, rc.DATA_AMF0, rc.DATA_AMF3):
                raise Refused("media before publish", "NetStream.Publish.BadName", "publish first")
            if self._control(chunks, send, msg) or msg.type not in (
                rc.COMMAND_AMF0,
                rc.COMMAND_AMF3,
            ):
                continue
            name, txn, args = _command(msg)
            if name == "connect":
                app = args[0].get("app") if args and isinstance(args[0], dict) else None
                if not isinstance(app, str) or not hmac.compare_digest(
                    app.encode("utf-8"), self._app.encode("utf-8")
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
                    key.encode("utf-8"), self._key
                ):
                    raise Refused(
                        "wrong stream key", "NetStream.Publish.BadName", "stream key refused"
                    )
                return msg
            elif txn:  # releaseStream, FCPublish, _checkbw …: acknowledged, nothing to do
                await send.command("_result", txn, None)
            if name == "FCPublish":  # some encoders wait for it (nginx-rtmp sends it too)
                await send.command(
                    "onFCPublish",
                    0,
                    None,
                    _status("status", "NetStream.Publish.Start", "FCPublish"),
                )

    def _control(self, chunks: rc.ChunkReader, send: _Sender, msg: rc.Message) -> bool:
        """Handles protocol control messages; True when `msg` was one."""
        if msg.type == rc.SET_CHUNK_SIZE:
            chunks.set_chunk_size(msg.payload)
        elif msg.type == rc.ABORT:
            chunks.abort(msg.payload)
        elif msg.type == rc.WINDOW_ACK_SIZE and len(msg.payload) >= 4:
            send.ack_window = max(4096, int.from_bytes(msg.payload[:4], "big"))
        elif msg.type not in (rc.ACK, rc.USER_CONTROL, rc.PEER_BANDWIDTH):
            return False
        send.maybe_ack(chunks.bytes_read)
        return True

    async def _refuse(self, send: _Sender, host: str, where: str, refusal: Refused) -> None:
        self.refused += 1
        count = self._count_refusal(host)
        log.warning("[stream %s] RTMP publish from %s refused: %s", self.stream, where, refusal)
        await self._write_audit("publish_refused", "anonymous", where, reason=str(refusal))
        if count == MAX_REFUSALS:
            log.warning(
                "[stream %s] %s was refused %d times within %.0f s: its connections "
                "are closed unanswered for a while",
                self.stream,
                host,
                count,
                REFUSAL_WINDOW_S,
            )
            await self._write_audit(
                "publish_throttled", "anonymous", where, refusals=count, window_s=REFUSAL_WINDOW_S
            )
        try:
            if refusal.code.startswith("NetConnection"):
                await send.command(
                    "_error", 1, None, _status("error", refusal.code, refusal.description)
                )
            else:
                await send.command(
                    "onStatus",
                    0,
                    None,
                    _status("error", refusal.code, refusal.description),
                    stream_id=STREAM_ID,
                )
        except (OSError, RuntimeError):
            pass  # the refusal is the point; a peer that left needs no explanation

    async def _publish(
        self, chunks: rc.ChunkReader, send: _Sender, where: str, publish: rc.Message, pipe: FlvPipe
    ) -> None:
        started, ended_by = time.monotonic(), "publisher left"
        log.info("[stream %s] RTMP publisher %s admitted", self.stream, where)
        await self._write_audit("publish_start", "rtmp stream key", where)
        chunks.max_message = MAX_MEDIA_MESSAGE
        joiner = PictureJoiner()
        self.repairs = joiner.counts
        cancelled = False
        try:
            await send.control(rc.USER_CONTROL, bytes(2) + STREAM_ID.to_bytes(4, "big"))
            await send.command(
                "onStatus",
                0,
                None,
                _status("status", "NetStream.Publish.Start", f"{self.stream} is now published"),
                stream_id=publish.stream_id,
            )
            self._handoff.put(pipe)
            while True:
                msg = await asyncio.wait_for(chunks.read_message(), READ_TIMEOUT_S)
                if msg.type == rc.VIDEO:
                    if not self._video(pipe, joiner.push(msg.timestamp, msg.payload)):
                        ended_by = "the relay dropped it (source closed or too far behind)"
                        break
                elif msg.type in (rc.COMMAND_AMF0, rc.COMMAND_AMF3):
                    if _command(msg)[0] in ("FCUnpublish", "deleteStream", "closeStream"):
                        break
                else:
                    self._control(chunks, send, msg)  # audio and metadata are not relayed
                send.maybe_ack(chunks.bytes_read)
        except TimeoutError:
            ended_by = f"nothing received for {READ_TIMEOUT_S:.0f} s"
        except asyncio.IncompleteReadError:
            ended_by = "publisher closed the connection"
        except (OSError, rc.RtmpProtocolError, amf0.AmfError) as exc:
            ended_by = f"connection lost ({exc or type(exc).__name__})"
        except asyncio.CancelledError:
            ended_by, cancelled = "the relay stopped", True
        self._video(pipe, joiner.flush())
        pipe.end()
        seconds = round(time.monotonic() - started, 1)
        if joiner.counts:
            log.info(
                "[stream %s] RTMP publisher %s: %s",
                self.stream,
                where,
                ", ".join(f"{k} {v}" for k, v in sorted(joiner.counts.items())),
            )
        log.info(
            "[stream %s] RTMP publisher %s gone after %.1f s: %s",
            self.stream,
            where,
            seconds,
            ended_by,
        )
        await self._write_audit(
            "publish_stop", "rtmp stream key", where, seconds=seconds, reason=ended_by
        )
        if cancelled:
            raise asyncio.CancelledError

    @staticmethod
    def _video(pipe: FlvPipe, tags: list[tuple[int, bytes]]) -> bool:
        """Feeds the joiner's whole pictures to the demuxer; False when it is gone."""
        for timestamp, payload in tags:
            if not pipe.feed(flv_tag(rc.VIDEO, timestamp, payload)):
                return False
        return True

    async def _write_audit(self, event: str, who: str, where: str, **details: Any) -> None:
        if self._audit is not None:
            self._audit(event, who, where, stream=self.stream, source="rtmp", **details)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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


def _status(level: str, code: str, description: str) -> dict[str, Any]:
    return {"level": level, "code": code, "description": description}


def _command(msg: rc.Message) -> tuple[str, float, list[Any]]:
    """(name, transaction id, arguments after the command object) of a command message."""
    payload = msg.payload[1:] if msg.type == rc.COMMAND_AMF3 else msg.payload
    values = amf0.decode_all(payload)
    if len(values) < 2 or not isinstance(values[0], str):
        raise rc.RtmpProtocolError("malformed command")
    txn = values[1] if isinstance(values[1], float) else 0.0
    return values[0], txn, values[2:] if values[0] == "connect" else values[3:]


class _Sender:
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
                **_status("status", "NetConnection.Connect.Success", "Connection succeeded."),
                "objectEncoding": 0,
            },
        )

    def maybe_ack(self, received: int) -> None:
        """Acknowledges received bytes once per window, for publishers that wait for it."""
        if self.ack_window and received - self._acked >= self.ack_window:
            self._acked = received
            self.writer.write(
                rc.encode_message(
                    2, rc.ACK, (received & 0xFFFFFFFF).to_bytes(4, "big"), self.chunk_size
                )
            )
