"""An admitted RTMP publisher's media is read in a thread of its own: pictures reach the
demuxer while the event loop is busy (beside 100 viewers a loop turn lasts tens of ms)."""

from __future__ import annotations

import asyncio
import socket
import time

from relay.sources import amf0
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_joiner import PictureJoiner
from relay.sources.flv_pipe import FLV_HEADER, FlvPipe
from relay.sources.rtmp_publish import chunks
from relay.sources.rtmp_receive import Publisher
from relay.sources.rtmp_server import Sender

from .test_flv_joiner import PICTURES, decode_flv, shaped

CHUNK_SIZE = 4096
TAG_OVERHEAD = 11 + 4  # an FLV tag's header and its trailing size


async def no_audit(event: str, who: str, where: str, **details: object) -> None:
    pass


def published(messages: list[tuple[int, bytes]]) -> bytes:
    """What a publisher sends after `publish`: its chunk size, the video, deleteStream."""
    out = chunks(2, rc.SET_CHUNK_SIZE, CHUNK_SIZE.to_bytes(4, "big"), 128, 0, 0)
    for timestamp, payload in messages:
        out += chunks(6, rc.VIDEO, payload, CHUNK_SIZE, 1, timestamp)
    delete = amf0.encode("deleteStream", 5.0, None, 1.0)
    return out + chunks(3, rc.COMMAND_AMF0, delete, CHUNK_SIZE, 0, 0)


async def test_pictures_reach_the_demuxer_while_the_event_loop_is_blocked() -> None:
    messages = shaped(set())  # one message a picture, as FFmpeg and OBS send them
    data = published(messages)
    expected = len(FLV_HEADER) + sum(len(p) + TAG_OVERHEAD for _, p in messages)
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    pipe = FlvPipe("test", read_timeout_s=5.0)
    publisher = Publisher("demo", "test", pipe, PictureJoiner(), no_audit)
    # A few bytes arrive while the session still reads on the loop (after `publish`): they
    # must be handed over with the connection, not lost.
    theirs.sendall(data[:100])
    await asyncio.sleep(0.1)
    task = asyncio.create_task(
        publisher._relay(rc.ChunkReader(reader, rc.MAX_CHUNK_SIZE), Sender(writer))
    )
    await asyncio.sleep(0.1)  # the media thread has taken the connection over
    theirs.sendall(data[100:])
    # The event loop is blocked from here until every picture is in the pipe: a loop turn
    # that never ends. Only a reader outside the loop can get them there.
    flv = bytearray()
    deadline = time.monotonic() + 5.0
    while len(flv) < expected and time.monotonic() < deadline:
        flv += pipe.read()
    assert len(flv) == expected, f"{len(flv)} of {expected} FLV bytes while the loop was blocked"
    assert await task == "publisher left"
    theirs.close()
    writer.close()
    packets, counters = decode_flv(bytes(flv))
    assert packets == PICTURES and counters == list(range(PICTURES))
