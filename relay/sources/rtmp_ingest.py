"""RTMP ingest for one stream: listens on the source URL's port, admits only a publisher that
names the URL's app and key, and hands its video to the demuxer thread as FLV
(relay.sources.rtmp_receive relays an admitted publisher's media).

Why not FFmpeg's own listener: libavformat's rtmpproto.c (listen mode) accepts any app and
any stream key and only logs a warning ("App field don't match up", "Unexpected stream"),
gives no peer address, and serves one TCP connection per listen. Here the check happens on
the `connect` and `publish` commands, before any media is read: a refused publisher gets an
RTMP error, is logged with its address and written to the audit log, and none of its bytes
reach the demuxer. The demuxer stays FFmpeg's (FLV), fed through a FlvPipe.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from relay.errors import SourceError
from relay.sources import amf0
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_joiner import PictureJoiner
from relay.sources.flv_pipe import FlvPipe
from relay.sources.redact import redact_url
from relay.sources.rtmp_gate import MAX_REFUSALS, REFUSAL_WINDOW_S, Gate
from relay.sources.rtmp_gate import Pending as _Pending
from relay.sources.rtmp_receive import READ_TIMEOUT_S, Publisher
from relay.sources.rtmp_server import STREAM_ID, Refused, negotiate
from relay.sources.rtmp_server import Sender as _Sender
from relay.sources.rtmp_server import linger as _linger
from relay.sources.rtmp_server import status as _status

log = logging.getLogger(__name__)

Audit = Callable[..., Any]  # AuditLog.append(event, who, where, **details)

HANDSHAKE_TIMEOUT_S = 3.0  # TCP connect to the end of the RTMP handshake …
NEGOTIATE_TIMEOUT_S = 10.0  # … and to publish; a drone does both in well under 1 s
MAX_COMMAND = 64 * 1024
REBIND_S = 5.0


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
        self.gate = Gate(stream)
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
            if self.gate.admissible(host, where):
                self.gate.pending[task] = _Pending(host, where)
                await self._session(reader, writer, host, where)
        except asyncio.CancelledError:
            pass
        finally:
            self.gate.pending.pop(task, None)
            self._sessions.discard(task)
            writer.close()

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, where: str
    ) -> None:
        task = asyncio.current_task()
        pending = self.gate.pending.get(task) if task is not None else None
        chunks = rc.ChunkReader(reader, MAX_COMMAND)
        send = _Sender(writer)
        try:
            async with asyncio.timeout(NEGOTIATE_TIMEOUT_S):
                async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                    await rc.server_handshake(reader, writer)
                if pending is not None:
                    pending.shaken = True
                publish = await negotiate(chunks, send, self._app, self._key)
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
                self.gate.pending.pop(task, None)
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

    async def _refuse(self, send: _Sender, host: str, where: str, refusal: Refused) -> None:
        self.refused += 1
        count = self.gate.count_refusal(host)
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
        joiner = PictureJoiner()
        self.repairs = joiner.counts
        publisher = Publisher(self.stream, where, pipe, joiner, self._write_audit)
        await publisher.receive(chunks, send, publish.stream_id, self._admitted)

    def _admitted(self, pipe: FlvPipe) -> None:
        """Hands an admitted publisher's pipe to the source thread (next_publisher)."""
        self._handoff.put(pipe)

    async def _write_audit(self, event: str, who: str, where: str, **details: Any) -> None:
        if self._audit is not None:
            self._audit(event, who, where, stream=self.stream, source="rtmp", **details)
