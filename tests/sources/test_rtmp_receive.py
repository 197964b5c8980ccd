"""An admitted RTMP publisher's media on a busy event loop: the pictures already received
are handed to the demuxer at once, not one event-loop turn (or two) apart."""

from __future__ import annotations

import asyncio
import socket

from relay.sources import amf0
from relay.sources import rtmp_chunks as rc
from relay.sources.flv_joiner import PictureJoiner
from relay.sources.flv_pipe import FlvPipe
from relay.sources.rtmp_publish import chunks
from relay.sources.rtmp_receive import Publisher
from relay.sources.rtmp_server import Sender

from .test_flv_joiner import PICTURES, decode_flv, shaped

CHUNK_SIZE = 4096


async def no_audit(event: str, who: str, where: str, **details: object) -> None:
    pass


def published(messages: list[tuple[int, bytes]]) -> bytes:
    """What a publisher sends after `publish`: its chunk size, the video, deleteStream."""
    out = chunks(2, rc.SET_CHUNK_SIZE, CHUNK_SIZE.to_bytes(4, "big"), 128, 0, 0)
    for timestamp, payload in messages:
        out += chunks(6, rc.VIDEO, payload, CHUNK_SIZE, 1, timestamp)
    out += chunks(3, rc.COMMAND_AMF0, amf0.encode("deleteStream", 5.0, None, 1.0), CHUNK_SIZE, 0, 0)
    return out


async def test_received_pictures_reach_the_demuxer_without_waiting_for_loop_turns() -> None:
    """Under 100 viewers a loop turn lasts tens of ms; a turn or two per RTMP message (a
    task per read) queued 30 fps video for hundreds of ms before the relay saw it."""
    messages = shaped(set())  # one message a picture, as FFmpeg and OBS send them
    reader = asyncio.StreamReader()
    reader.feed_data(published(messages))
    ours, theirs = socket.socketpair()
    _, writer = await asyncio.open_connection(sock=ours)
    pipe = FlvPipe("test", read_timeout_s=1.0)
    publisher = Publisher("demo", "test", pipe, PictureJoiner(), no_audit)

    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    try:
        start = turns
        ended_by = await publisher._relay(rc.ChunkReader(reader, rc.MAX_CHUNK_SIZE), Sender(writer))
        spent = turns - start
    finally:
        ticker.cancel()
        writer.close()
        theirs.close()
    assert ended_by == "publisher left"
    assert spent <= 2, f"{spent} loop turns for {len(messages)} messages already received"
    pipe.end()
    flv = bytearray()
    while data := pipe.read():
        flv += data
    packets, counters = decode_flv(bytes(flv))
    assert packets == PICTURES and counters == list(range(PICTURES))
