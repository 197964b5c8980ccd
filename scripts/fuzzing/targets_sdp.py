"""WHEP and WHIP SDP offers: real offers from aiortc, mutated line by line and field by
field (values swapped for extremes, lines dropped, spliced from the other direction)."""

from __future__ import annotations

import asyncio
import random
import re
import time
from urllib.parse import quote

from scripts.fuzzing.http_request import request
from scripts.fuzzing.mutate import mutate
from scripts.fuzzing.target import Ctx, Target

# --- SDP ---------------------------------------------------------------------------------

SDP_VALUES = (
    "0",
    "65536",
    "4294967296",
    "-1",
    "x" * 3000,
    "",
    "\u00e4\u2603",
    "%00",
    "1 2 3 4 5 6 7 8 9",
    "sha-256 " + ":".join(["ZZ"] * 32),
)


async def make_offer(direction: str) -> str:
    """A real aiortc offer: H.264 and VP8, ICE and DTLS attributes, as players send."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction=direction)
        if direction == "recvonly":
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def mutate_sdp(rng: random.Random, sdp: str, other: str) -> bytes:
    """Line-aware: lines dropped, repeated, moved, taken from another offer, or an
    attribute's value replaced by an extreme one; then, sometimes, raw byte mutations."""
    lines = sdp.strip().split("\r\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        i = rng.randrange(len(lines))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            lines.insert(rng.randrange(len(lines)), lines.pop(i))
        elif op == 3:
            extra = other.strip().split("\r\n")
            lines.insert(i, rng.choice(extra))
        else:
            parts = re.split(r"([ :=/])", lines[i])
            j = rng.randrange(len(parts))
            parts[j] = rng.choice(SDP_VALUES)
            lines[i] = "".join(parts)
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogatepass")
    if rng.random() < 0.3:
        data = mutate(rng, data, rounds=2)
    return data


class _SdpTarget(Target):
    # Ten offers a second: the most one address may send by default (whep_per_minute =
    # 600); the fuzzing relay's limits are raised only so that every case gets parsed.
    concurrency = 1
    check_every = 100
    pace_s = 0.1
    path = ""
    direction = ""

    async def setup(self, ctx: Ctx) -> None:
        self.offers = [await make_offer(self.direction) for _ in range(2)]
        self.other = await make_offer("sendonly" if self.direction == "recvonly" else "recvonly")

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        began = time.monotonic()
        body = mutate_sdp(rng, rng.choice(self.offers), self.other)
        content_type = "application/sdp"
        if rng.random() < 0.05:
            content_type = rng.choice(("text/plain", "", "application/sdp; x=1" + "y" * 200))
        query = ""
        if rng.random() < 0.1:
            query = "?rendition=" + quote(rng.choice(("240p", "source", "auto", "x" * 500, "")))
        status, location, _ = await request(ctx, "POST", self.path + query, body, content_type)
        if status == 201 and location:  # end the session at once: no slot stays taken
            await request(ctx, "DELETE", location)
        await asyncio.sleep(max(0.0, self.pace_s - (time.monotonic() - began)))


class WhepSdp(_SdpTarget):
    name = "whep-sdp"
    path = "/whep/watch"
    direction = "recvonly"


class WhipSdp(_SdpTarget):
    name = "whip-sdp"
    path = "/whip/cam"
    direction = "sendonly"
