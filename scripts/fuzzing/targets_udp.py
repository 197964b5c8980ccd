"""MPEG-TS over UDP into the relay's udp:// stream: mutated TS packets, and mutated H.264
access units in valid TS (which reach the transcoder's decoder through FFmpeg's demuxer).
A valid keyframe every few cases keeps the demuxer and the decoder working."""

from __future__ import annotations

import asyncio
import random
import socket

from scripts.fuzzing import media
from scripts.fuzzing.mutate import Field, mutate
from scripts.fuzzing.target import Ctx, Target

FRAME_90K = 3000
PACE_S = 0.01  # about three times a drone's frame rate


class _UdpTarget(Target):
    check_every = 100

    def __init__(self) -> None:
        self.units = media.seed_units()
        self.mux = media.TsMuxer()
        self.pts = 90_000
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def _ts(self, annexb: bytes, keyframe: bool) -> bytes:
        self.pts += FRAME_90K
        return self.mux.unit(annexb, self.pts, keyframe)

    def _send(self, ctx: Ctx, ts: bytes) -> None:
        for datagram in media.datagrams(ts):
            try:
                self.sock.sendto(datagram, ("127.0.0.1", ctx.relay.udp_port))
            except OSError:
                pass  # a full socket buffer loses the datagram, as a network would

    async def setup(self, ctx: Ctx) -> None:
        # One clean second first: the demuxer probes the stream and the decoder starts.
        for annexb, key in self.units:
            self._send(ctx, self._ts(annexb, key))
            await asyncio.sleep(1 / 30)

    def _heal(self, ctx: Ctx, index: int) -> bool:
        if index % 10:
            return False
        annexb, key = self.units[(index // 10) % len(self.units)]
        self._send(ctx, self._ts(annexb, key or index % 30 == 0))
        return True

    async def teardown(self, ctx: Ctx) -> None:
        self.sock.close()


class MpegTs(_UdpTarget):
    """TS packets mutated in their headers (PID, flags, continuity counter, adaptation field
    length maxed), in the PAT/PMT sections (section and info lengths maxed) and in the PES
    header (header length, PTS), or truncated, duplicated and spliced across units."""

    name = "mpegts"

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        if not self._heal(ctx, index):
            annexb, key = rng.choice(self.units)
            ts = bytearray(self._ts(annexb, True))
            packets = [bytes(ts[i : i + media.TS]) for i in range(0, len(ts), media.TS)]
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(packets))
                pkt = packets[i]
                fields = [Field(1, 2), Field(3, 1), Field(4, 1)]
                if i < 2:  # PAT, PMT: section length, program info length
                    fields += [Field(6, 2), Field(15, 2), Field(17, 1)]
                else:  # PES header length and PTS
                    fields += [Field(12, 1), Field(12, 2), Field(8, 2)]
                packets[i] = mutate(rng, pkt, fields=fields, others=[rng.choice(packets)])
            if rng.random() < 0.2:
                rng.shuffle(packets)
            self._send(ctx, b"".join(packets))
        await asyncio.sleep(PACE_S)


class AnnexB(_UdpTarget):
    """H.264 access units mutated in their NAL units (headers, slice and parameter-set
    fields, exp-Golomb values made huge by runs of zeros), NAL units spliced in from other
    units, truncated; carried in valid TS, so they reach the decoder."""

    name = "h264"

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        if not self._heal(ctx, index):
            annexb, key = rng.choice(self.units)
            starts = media.nal_starts(annexb)
            fields = [Field(s, 1) for s in starts] + [Field(s + 1, 4) for s in starts]
            data = annexb
            if rng.random() < 0.3:  # a run of zeros: an exp-Golomb value far out of range
                at = rng.choice(starts) + 1
                data = data[:at] + bytes(rng.randint(2, 12)) + data[at + 2 :]
            others = [rng.choice(self.units)[0]]
            data = mutate(rng, data, fields=fields, others=others, rounds=3)
            self._send(ctx, self._ts(data, key))
        await asyncio.sleep(PACE_S)
