"""One admitted RTMP publisher's media: read in a thread of its own, its video goes to the
demuxer as whole FLV pictures, until it leaves, falls silent or the relay stops it
(relay.sources.rtmp_ingest admits it on the event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from relay.sources import amf0
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_joiner import PictureJoiner
from relay.sources.flv_pipe import FlvPipe, flv_tag
from relay.sources.rtmp_server import STREAM_ID, Sender, apply_control, command_of, status
from relay.threads import name_native_thread

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 4.0  # a publisher silent this long is gone (LTE lost)
MAX_MEDIA_MESSAGE = 8 * 1024 * 1024  # a 4K IDR at a high bitrate stays well below

WriteAudit = Callable[..., Awaitable[None]]  # (event, who, where, **details)


class Publisher:
    """The publisher from `where` on `stream`, feeding `pipe` through `joiner`."""

    def __init__(
        self, stream: str, where: str, pipe: FlvPipe, joiner: PictureJoiner, audit: WriteAudit
    ) -> None:
        self.stream, self.where, self.pipe, self.joiner = stream, where, pipe, joiner
        self._audit = audit

    async def receive(
        self,
        chunks: rc.ChunkReader,
        send: Sender,
        stream_id: int,
        admitted: Callable[[FlvPipe], None],
    ) -> None:
        """Confirms the publish, hands the pipe over (`admitted`) and relays video until the
        publisher is gone; audited at start and stop. Re-raises a cancellation."""
        started, ended_by = time.monotonic(), "publisher left"
        log.info("[stream %s] RTMP publisher %s admitted", self.stream, self.where)
        await self._audit("publish_start", "rtmp stream key", self.where)
        chunks.max_message = MAX_MEDIA_MESSAGE
        cancelled = False
        try:
            await send.control(rc.USER_CONTROL, bytes(2) + STREAM_ID.to_bytes(4, "big"))
            await send.command(
                "onStatus",
                0,
                None,
                status("status", "NetStream.Publish.Start", f"{self.stream} is now published"),
                stream_id=stream_id,
            )
            admitted(self.pipe)
            ended_by = await self._relay(chunks, send)
        except TimeoutError:
            ended_by = f"nothing received for {READ_TIMEOUT_S:.0f} s"
        except asyncio.IncompleteReadError:
            ended_by = "publisher closed the connection"
        except (OSError, rc.RtmpProtocolError, amf0.AmfError) as exc:
            ended_by = f"connection lost ({exc or type(exc).__name__})"
        except asyncio.CancelledError:
            ended_by, cancelled = "the relay stopped", True
        self._video(self.joiner.flush())
        self.pipe.end()
        await self._ended(round(time.monotonic() - started, 1), ended_by)
        if cancelled:
            raise asyncio.CancelledError

    async def _relay(self, chunks: rc.ChunkReader, send: Sender) -> str:
        """Reads the media in a thread of its own until the publisher unpublishes (or the
        demuxer is gone): why it ended. Beside 100 viewers an event-loop turn lasts tens of
        ms, and 30 fps video read on the loop queued behind them before the relay saw it (one
        bench_glass run: p50/p95 61/152 ms late when read by the session's task, 143/414 with
        a task per message); the thread takes the GIL within the switch interval instead."""
        transport = send.writer.transport
        raw = transport.get_extra_info("socket")
        if raw is None or not isinstance(transport, asyncio.Transport):
            raise OSError("the RTMP connection has no socket")
        transport.pause_reading()
        if chunks.reader is not None:  # what the loop received after `publish`
            chunks.reader.feed_eof()
            chunks.feed(await chunks.reader.read())
        # A socket of its own on the same connection: a timeout keeps it non-blocking, as the
        # transport's is (the two share the file's flags).
        sock = socket.socket(raw.family, raw.type, fileno=os.dup(raw.fileno()))
        sock.settimeout(READ_TIMEOUT_S)
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[str] = loop.create_future()
        args = (chunks, send, sock, loop, ended)
        try:
            name = f"rtmp-{self.stream}"
            threading.Thread(target=self._media_thread, args=args, name=name).start()
            return await asyncio.shield(ended)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the thread's read ends at once
            with contextlib.suppress(Exception):
                await ended  # the joiner and the pipe are the thread's until it is done
            raise
        finally:
            sock.close()

    def _media_thread(
        self,
        chunks: rc.ChunkReader,
        send: Sender,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
        ended: asyncio.Future[str],
    ) -> None:
        name_native_thread()
        try:
            why = self._read_media(chunks, send, sock)
        except Exception as exc:  # the session's task says what it means
            settle = partial(_settle, ended, "", exc)
        else:
            settle = partial(_settle, ended, why, None)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the relay is gone
            loop.call_soon_threadsafe(settle)

    def _read_media(self, chunks: rc.ChunkReader, send: Sender, sock: socket.socket) -> str:
        while True:
            msg = chunks.read_message_from(sock.recv)
            if msg.type == rc.VIDEO:
                if not self._video(self.joiner.push(msg.timestamp, msg.payload)):
                    return "the relay dropped it (source closed or too far behind)"
            elif msg.type in (rc.COMMAND_AMF0, rc.COMMAND_AMF3):
                if command_of(msg)[0] in ("FCUnpublish", "deleteStream", "closeStream"):
                    return "publisher left"
            else:
                apply_control(chunks, send, msg)  # audio and metadata are not relayed
            ack = send.ack_due(chunks.bytes_read)
            if ack is not None:
                sock.sendall(ack)  # the loop writes nothing on this connection meanwhile

    def _video(self, tags: list[tuple[int, bytes]]) -> bool:
        """Feeds the joiner's whole pictures to the demuxer; False when it is gone."""
        for timestamp, payload in tags:
            if not self.pipe.feed(flv_tag(rc.VIDEO, timestamp, payload)):
                return False
        return True

    async def _ended(self, seconds: float, ended_by: str) -> None:
        if self.joiner.counts:
            log.info(
                "[stream %s] RTMP publisher %s: %s",
                self.stream,
                self.where,
                ", ".join(f"{k} {v}" for k, v in sorted(self.joiner.counts.items())),
            )
        log.info(
            "[stream %s] RTMP publisher %s gone after %.1f s: %s",
            self.stream,
            self.where,
            seconds,
            ended_by,
        )
        details: dict[str, Any] = {"seconds": seconds, "reason": ended_by}
        await self._audit("publish_stop", "rtmp stream key", self.where, **details)


def _settle(ended: asyncio.Future[str], why: str, exc: Exception | None) -> None:
    if ended.done():
        return
    if exc is not None:
        ended.set_exception(exc)
    else:
        ended.set_result(why)
