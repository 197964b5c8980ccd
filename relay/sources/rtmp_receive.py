"""One admitted RTMP publisher's media: its video goes to the demuxer as whole FLV pictures,
until it leaves, falls silent or the relay stops it (relay.sources.rtmp_ingest admits it)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from relay.sources import amf0
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_joiner import PictureJoiner
from relay.sources.flv_pipe import FlvPipe, flv_tag
from relay.sources.rtmp_server import STREAM_ID, Sender, command_of, control, status

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
        """Reads messages until the publisher unpublishes (or the demuxer is gone): why."""
        while True:
            # Not wait_for: on Python 3.11 it runs each read as a task of its own, two or three
            # event-loop turns a message even when its bytes are already here; with 100
            # viewers a turn lasts tens of ms and 30 fps video queued before the relay saw it
            # (p50 143 ms late in one bench_glass run, 61 ms with this).
            async with asyncio.timeout(READ_TIMEOUT_S):
                msg = await chunks.read_message()
            if msg.type == rc.VIDEO:
                if not self._video(self.joiner.push(msg.timestamp, msg.payload)):
                    return "the relay dropped it (source closed or too far behind)"
            elif msg.type in (rc.COMMAND_AMF0, rc.COMMAND_AMF3):
                if command_of(msg)[0] in ("FCUnpublish", "deleteStream", "closeStream"):
                    return "publisher left"
            else:
                control(chunks, send, msg)  # audio and metadata are not relayed
            send.maybe_ack(chunks.bytes_read)

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
