"""Where an automatic viewer starts: the rung its link is known to carry, not the top one.

A new or reconnecting viewer that starts on 720p bursts a 40-85 kB keyframe into a link it
knows nothing about; on LTE the shaper drops hundreds of packets and the first reports say
"99 % lost" (issue 17). It starts instead on the best rung that fits what is known: the
estimate its last session left behind (kept per client for MEMORY_S), or DEFAULT_BPS, and
the adapter probes up from there (docs/congestion-control.md).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from relay.fanout.rendition import Rendition

# Nothing known: a rung that fits a ~1 Mbit/s link (weak LTE) with room for keyframes and
# repairs; a known estimate is what that link carried, and is used as it is.
DEFAULT_BPS = 850_000.0
# ... unless ICE and DTLS took this long after the answer: a few round trips with losses
# on the way (bench_lte: clean 0.07 s and good LTE 0.40 in one run each, weak LTE 0.79 and
# 0.69, the edge of a cell 4.4 and 1.8 in two):
# the lowest rung then (relay.fanout.adapt.LadderAdapter.start).
SLOW_HANDSHAKE_S = 1.2
# A lost handshake packet is resent after a second, so weak LTE (2 % loss) took 1.73 s once
# and started on 240p as a far link would. The first round trip measured decides: under
# this (weak LTE 120-200 ms, the edge of a cell 220-380 ms and more) it was not far, and the
# viewer may climb at once as an unknown link would.
FAR_RTT_S = 0.21
# ... and one this quick is near, a LAN: Chromium on loopback took 0.14 s (most of it its
# own), through bench_lte's clean link 0.12-0.19, aiortc 0.05-0.08; good LTE (40 ms each
# way) 0.40. Its link starts clear (relay.fanout.clear_link): the first keyframe leaves at the
# clear rate, not at 2x the rung's (a 720p one, 25 kB, took 50 ms), until a loss ends it.
NEAR_HANDSHAKE_S = 0.25
MEMORY_S = 600.0  # a client's last estimate is remembered this long
MEMORY_ENTRIES = 4096  # at most this many clients remembered (oldest forgotten first)
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # WHEP ?client=<id>, chosen by the player


def start_rung(
    ladder: Sequence[Rendition],
    known_bps: float | None,
    bitrate_of: Callable[[Rendition], float] = lambda r: r.bitrate,
) -> Rendition:
    """The highest rung (ladder sorted high to low) whose bitrate fits the known estimate,
    or DEFAULT_BPS; the lowest rung if none fits. Rungs of unknown bitrate (passthrough
    before the drone sent anything) are not started on."""
    budget = known_bps if known_bps is not None else DEFAULT_BPS
    rated = [r for r in ladder if bitrate_of(r) > 0] or list(ladder)
    return next((r for r in rated if bitrate_of(r) <= budget), rated[-1])


def client_key(who: str, remote: str, client: str | None) -> str:
    """The key a viewer's estimate is remembered under: the player's client id if it sends
    one (several tablets behind one NAT address), else its address; always with the
    identity. Raises ValueError for a client id that is not 1-64 of A-Z a-z 0-9 _ -."""
    if client is None:
        return f"{who}|addr:{remote}"
    if not CLIENT_ID.match(client):
        raise ValueError("client must be 1-64 characters of A-Z, a-z, 0-9, '_', '-'")
    return f"{who}|client:{client}"


class EstimateMemory:
    """The last rate estimate per client, for MEMORY_S; bounded (clients choose their ids)."""

    def __init__(self, ttl_s: float = MEMORY_S, entries: int = MEMORY_ENTRIES) -> None:
        self.ttl_s, self.entries = ttl_s, entries
        self._known: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def remember(self, key: str, bps: float, now: float | None = None) -> None:
        self._known.pop(key, None)
        self._known[key] = (bps, time.monotonic() if now is None else now)
        while len(self._known) > self.entries:
            self._known.popitem(last=False)

    def recall(self, key: str, now: float | None = None) -> float | None:
        known = self._known.get(key)
        if known is None:
            return None
        if (time.monotonic() if now is None else now) - known[1] > self.ttl_s:
            del self._known[key]
            return None
        return known[0]
