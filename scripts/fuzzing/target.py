"""What a target is: seeds and a mutator behind `case()`, which sends one case to the relay
and raises `Failure` (or `Known`, for a failure already filed) when the relay misbehaves."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from scripts.fuzzing.relay_proc import RelayProcess


class Failure(Exception):
    """The relay broke a rule on this case (5xx, traceback, …)."""


class Known(Failure):
    """A failure already filed and owned by someone else: reported, not counted."""


@dataclass
class Ctx:
    relay: RelayProcess
    http: aiohttp.ClientSession
    state: dict[str, Any] = field(default_factory=dict)  # a target's own, across cases


class Target:
    name = ""
    concurrency = 1  # cases in flight at once
    check_every = 50  # cases between two looks at the relay's log and threads
    # False for a target whose cases never reach the running relay (config files): the
    # watched stream's rate is then reported, not judged.
    judges_stream = True

    async def setup(self, ctx: Ctx) -> None:
        """Before the first case (e.g. a publisher that stays connected)."""

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        raise NotImplementedError

    async def teardown(self, ctx: Ctx) -> None:
        """After the last case."""


def source_address(index: int) -> str:
    """A loopback address of its own per case: the relay limits work per client address
    (RTMP refusals, pending connections), and the fuzzer must not be locked out by it."""
    return f"127.{10 + (index // 65024) % 200}.{(index // 254) % 256}.{index % 254 + 1}"
