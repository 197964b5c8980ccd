"""RTMP ingest targets over real TCP connections: the handshake, the chunk stream, AMF0
commands, and FLV video tags from an admitted publisher."""

from __future__ import annotations

import asyncio
import os
import random

from relay.sources import rtmp_chunks as rc
from scripts.fuzzing import amf, media
from scripts.fuzzing.mutate import Field, mutate
from scripts.fuzzing.target import Ctx, Target, source_address

HS = rc.HANDSHAKE_SIZE
WRONG_KEY = "not-the-key"


async def _open(ctx: Ctx, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", ctx.relay.rtmp_port, local_addr=(source_address(index), 0)
        ),
        5,
    )


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x03" + bytes(8) + os.urandom(HS - 8))
    s0s1s2 = await asyncio.wait_for(reader.readexactly(1 + 2 * HS), 5)
    writer.write(s0s1s2[1 : 1 + HS])
    await writer.drain()


async def _drain_until_closed(reader: asyncio.StreamReader, seconds: float) -> None:
    """Reads the relay's answers until it closes or `seconds` pass."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except (TimeoutError, OSError):
        pass


def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.transport.abort()
    except OSError:
        pass


async def _send_after_handshake(ctx: Ctx, index: int, data: bytes) -> None:
    """A valid handshake, then `data`; reads what the relay answers until it hangs up."""
    reader, writer = await _open(ctx, index)
    try:
        await _handshake(reader, writer)
        writer.write(data)
        await _drain_until_closed(reader, 0.05)
    finally:
        _close(writer)


def publish_commands(app: str, key: str) -> list[tuple[int, int, bytes, int]]:
    """(csid, type, payload, stream id) of what a controller sends from connect to publish."""
    connect, _ = amf.encode(
        "connect",
        1.0,
        {
            "app": app,
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)",
            "tcUrl": f"rtmp://127.0.0.1/{app}",
        },
    )
    return [
        (2, rc.SET_CHUNK_SIZE, (4096).to_bytes(4, "big"), 0),
        (3, rc.COMMAND_AMF0, connect, 0),
        (3, rc.COMMAND_AMF0, amf.encode("releaseStream", 2.0, None, key)[0], 0),
        (3, rc.COMMAND_AMF0, amf.encode("FCPublish", 3.0, None, key)[0], 0),
        (3, rc.COMMAND_AMF0, amf.encode("createStream", 4.0, None)[0], 0),
        (4, rc.COMMAND_AMF0, amf.encode("publish", 5.0, None, key, "live")[0], 1),
    ]


def _encode_all(
    msgs: list[tuple[int, int, bytes, int]], chunk_size: int = 128
) -> tuple[bytes, list[Field]]:
    """The messages as one chunk stream (chunk size switches after a Set Chunk Size), with
    the offsets of every header's timestamp, length and stream id and of the chunk size."""
    out, fields = bytearray(), []
    size = 128
    for csid, msg_type, payload, stream_id in msgs:
        at = len(out)
        fields += [Field(at + 1, 3), Field(at + 4, 3), Field(at + 8, 4, little=True)]
        if msg_type == rc.SET_CHUNK_SIZE:
            fields.append(Field(at + 12, 4))
        out += rc.encode_message(csid, msg_type, payload, size, stream_id=stream_id)
        if msg_type == rc.SET_CHUNK_SIZE and 1 <= int.from_bytes(payload[:4], "big") <= 1 << 24:
            size = int.from_bytes(payload[:4], "big")
    return bytes(out), fields


class RtmpHandshake(Target):
    """C0+C1 and C2 mutated: versions, truncation, extra bytes, chunks spliced in early."""

    name = "rtmp-handshake"
    concurrency = 4

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        c0c1 = b"\x03" + bytes(4) + bytes(4) + rng.randbytes(HS - 8)
        hello, _ = _encode_all(publish_commands("live", WRONG_KEY)[:2])
        data = mutate(rng, c0c1 + rng.randbytes(HS) + hello, others=[hello], rounds=4)
        reader, writer = await _open(ctx, index)
        try:
            writer.write(data)
            await _drain_until_closed(reader, 0.05)
        finally:
            _close(writer)


class RtmpChunks(Target):
    """A valid handshake, then the whole command sequence as chunks, mutated in its chunk
    headers (timestamps, lengths, stream ids, chunk size set to the maximum), spliced with
    another sequence, truncated or with extra chunk streams."""

    name = "rtmp-chunks"
    concurrency = 4

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        key = rng.choice((WRONG_KEY, ctx.relay.rtmp_key))
        msgs = publish_commands("live", key)
        if rng.random() < 0.3:  # many chunk streams, extended csids, extended timestamps
            for _ in range(rng.randint(1, 40)):
                csid = rng.choice((2, 3, 5, 63))
                msgs.insert(rng.randint(0, len(msgs)), (csid, rng.randrange(256), b"\x00" * 5, 0))
        data, fields = _encode_all(msgs)
        if rng.random() < 0.2:  # a basic header in its 2- and 3-byte forms
            data = bytes((rng.choice((0, 1)) | rng.randrange(4) << 6,)) + rng.randbytes(3) + data
        other, _ = _encode_all(publish_commands("live", WRONG_KEY)[::-1])
        data = mutate(rng, data, fields=fields, others=[other], rounds=4)
        await _send_after_handshake(ctx, index, data)


def _amf_seeds() -> list[tuple[object, ...]]:
    nested: object = "x"
    for _ in range(40):
        nested = {"a": [nested]} if isinstance(nested, dict) else {"a": nested}
    return [
        ("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "objectEncoding": 0.0}),
        ("connect", 1.0, {"app": "live"}, amf.Ecma({"x": 1.0, "y": "z"}), [1.0, None, True]),
        ("connect", 1.0, {"app": "live", "deep": nested}),
        ("connect", 1.0, {"app": "live", "when": amf.Date(0.0), "long": "L" * 70000}),
        ("createStream", 4.0, None),
        ("publish", 5.0, None, WRONG_KEY, "live"),
        ("FCPublish", 3.0, None, "k", [[], {}, amf.Ecma({})]),
    ]


class RtmpAmf0(Target):
    """Valid chunks carrying AMF0 commands mutated in their values: string and array
    lengths set to the maximum, markers flipped, objects truncated or spliced."""

    name = "rtmp-amf0"
    concurrency = 4

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        seeds = _amf_seeds()
        values = rng.choice(seeds)
        payload, fields = amf.encode(*values)
        other, _ = amf.encode(*rng.choice(seeds))
        payload = mutate(rng, payload, fields=fields, others=[other], rounds=3)
        msgs = publish_commands("live", WRONG_KEY)
        if values[0] == "connect":
            msgs = [(3, rc.COMMAND_AMF0, payload, 0)] + msgs[2:]
        else:  # after a valid connect
            msgs = msgs[:2] + [(3, rng.choice((rc.COMMAND_AMF0, rc.COMMAND_AMF3)), payload, 0)]
        data, _ = _encode_all(msgs)
        await _send_after_handshake(ctx, index, data)


class FlvTags(Target):
    """An admitted publisher (the right key) whose video messages, FLV VIDEODATA, are
    mutated: frame type and codec id, AVC packet type, composition time, the decoder
    configuration's counts and lengths, the NAL unit length prefixes; timestamps jump.
    Every fifth message is a valid one, so that the demuxer and decoder keep working."""

    name = "flv"
    check_every = 100

    def __init__(self) -> None:
        units = media.seed_units()
        key = units[0][0]
        config = media.avc_config(key)
        self.config = b"\x17\x00\x00\x00\x00" + config
        self.config_fields = [Field(5 + 5, 1), Field(5 + 6, 2), Field(5 + 8 + len(config) - 11, 1)]
        self.frames = [
            ((b"\x17" if k else b"\x27") + b"\x01\x00\x00\x00" + media.avcc(u), k) for u, k in units
        ]
        self.ts = 0
        self.session = 0

    async def _connect(self, ctx: Ctx) -> None:
        self.session += 1
        reader, writer = await _open(ctx, 10_000_000 + self.session)
        await _handshake(reader, writer)
        data, _ = _encode_all(publish_commands("live", ctx.relay.rtmp_key))
        writer.write(data)
        await writer.drain()
        ctx.state["flv"] = (reader, writer)
        self.chunk_size = 4096
        await self._send(ctx, self.config)
        await self._send(ctx, self.frames[0][0])

    async def _send(self, ctx: Ctx, payload: bytes, ts: int | None = None) -> None:
        reader, writer = ctx.state["flv"]
        self.ts += 33
        writer.write(
            rc.encode_message(
                4,
                rc.VIDEO,
                payload,
                self.chunk_size,
                stream_id=1,
                timestamp=self.ts if ts is None else ts,
            )
        )
        await asyncio.wait_for(writer.drain(), 2)

    async def setup(self, ctx: Ctx) -> None:
        await self._connect(ctx)

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        reader, writer = ctx.state["flv"]
        if reader.at_eof() or writer.is_closing():
            _close(writer)
            await self._connect(ctx)
        if index % 5 == 0:
            payload = self.frames[index // 5 % len(self.frames)][0]
        elif rng.random() < 0.15:
            payload = mutate(rng, self.config, fields=self.config_fields)
        else:
            frame = rng.choice(self.frames)[0]
            fields = [Field(2, 3)]
            at = 5
            while at + 4 <= len(frame):  # the NAL units' length prefixes
                fields.append(Field(at, 4))
                at += 4 + int.from_bytes(frame[at : at + 4], "big")
            payload = mutate(
                rng, frame, fields=fields, others=[self.config, rng.choice(self.frames)[0]]
            )
        ts = None
        if rng.random() < 0.05:  # backwards, far ahead, extended
            ts = rng.choice((0, self.ts - 5000, self.ts + 10_000_000, 0xFFFFFF, 0xFFFFFFF0))
        try:
            await self._send(ctx, payload, ts=None if ts is None else max(0, ts))
        except (OSError, TimeoutError):
            _close(writer)
            await self._connect(ctx)
        await asyncio.sleep(0.01)

    async def teardown(self, ctx: Ctx) -> None:
        if "flv" in ctx.state:
            _close(ctx.state.pop("flv")[1])
