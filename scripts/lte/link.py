"""The link's delay, jitter, loss and outages, added by a TUN forwarder (this kernel has no
netem). Two TUN devices make a point-to-point link: the relay's end in the root namespace,
the tablet's end moved into its namespace. A separate process reads each packet from one
end and writes it into the other after delay ± jitter, or drops it at random.

Jitter varies each packet's delay but keeps the order (a packet never leaves before the
one ahead of it), as a radio link's varying queue does; netem's jitter would reorder a
packet stream at 5 ms spacing and turn every reordering into a NACK.

The profile lives in shared memory, so the bench can change it (or cut the link) while
packets flow. tc tbf (the rate and its 100 ms queue) sits on the relay end's egress,
before this delay, as an LTE cell's scheduler queue sits before the radio."""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing as mp
import os
import random
import signal
import struct
from collections import deque
from dataclasses import dataclass
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
MTU = 1500
DOWN, UP = 0, 1  # directions: relay -> tablet, tablet -> relay
# Shared profile slots (doubles): delay ms, jitter ms, loss share, cut (1 = link cut).
DELAY, JITTER, LOSS, CUT = range(4)
# Shared counters per direction: packets in, lost at random, dropped while cut, delivered.
IN, LOST, CUT_DROPPED, OUT = range(4)


@dataclass(frozen=True)
class Profile:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0  # share of packets dropped, in each direction


def open_tun(name: str) -> int:
    """Creates the TUN device `name` (gone when the last fd to it closes); returns its fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class LinkControl:
    """The bench's handle on the forwarder process: profile, cut, counters."""

    def __init__(self) -> None:
        self.profile: SynchronizedArray[Any] = mp.Array("d", 4)
        self.counters: SynchronizedArray[Any] = mp.Array("q", 8)
        self.process: mp.Process | None = None

    def set(self, profile: Profile) -> None:
        self.profile[DELAY] = profile.delay_ms
        self.profile[JITTER] = profile.jitter_ms
        self.profile[LOSS] = profile.loss

    def cut(self, down: bool) -> None:
        self.profile[CUT] = 1.0 if down else 0.0

    def snapshot(self) -> dict[str, dict[str, int]]:
        c = self.counters[:]
        names = ("in", "lost", "cut", "out")
        return {
            d: {n: c[i * 4 + k] for k, n in enumerate(names)} for i, d in enumerate(("down", "up"))
        }

    def start(self, relay_fd: int, tablet_fd: int) -> None:
        self.process = mp.Process(
            target=_run, args=(relay_fd, tablet_fd, self.profile, self.counters), daemon=True
        )
        self.process.start()

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(2)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.process = None


def _run(relay_fd: int, tablet_fd: int, profile: Any, counters: Any) -> None:
    # Forked from the bench, whose event loop catches SIGTERM/SIGINT: here they must end
    # the process at once (the bench stops it so), not wake a loop that is not ours.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The link must not add delay of its own when the machine is busy: a starved
    # forwarder would look like a congested cell. It needs little CPU.
    os.nice(-10)
    asyncio.run(_forward(relay_fd, tablet_fd, profile, counters))


async def _forward(relay_fd: int, tablet_fd: int, profile: Any, counters: Any) -> None:
    loop = asyncio.get_running_loop()
    # One FIFO per direction, drained by one timer: asyncio's timer heap does not keep
    # handles that are due at the same moment in order, and a clamped due time (a packet
    # held behind the one ahead of it) is exactly such a tie.
    queues: tuple[deque[tuple[float, bytes]], deque[tuple[float, bytes]]] = (deque(), deque())
    last_due = [0.0, 0.0]
    rng = random.Random()

    def pump(direction: int, src: int, dst: int) -> None:
        while True:
            try:
                packet = os.read(src, MTU + 64)
            except BlockingIOError:
                return
            except OSError:  # the device is gone (the bench is cleaning up)
                loop.remove_reader(src)
                return
            base = direction * 4
            counters[base + IN] += 1
            if profile[CUT] >= 1.0:
                counters[base + CUT_DROPPED] += 1
                continue
            if rng.random() < profile[LOSS]:
                counters[base + LOST] += 1
                continue
            delay = profile[DELAY] + rng.uniform(-profile[JITTER], profile[JITTER])
            due = max(loop.time() + max(0.0, delay) / 1000, last_due[direction])
            last_due[direction] = due
            queue = queues[direction]
            queue.append((due, packet))
            if len(queue) == 1:
                loop.call_at(due, deliver, direction, dst)

    def deliver(direction: int, dst: int) -> None:
        queue = queues[direction]
        now = loop.time()
        while queue and queue[0][0] <= now:
            _, packet = queue.popleft()
            try:
                os.write(dst, packet)
                counters[direction * 4 + OUT] += 1
            except OSError:
                pass  # the device went down (cleanup): nothing to deliver to
        if queue:
            loop.call_at(queue[0][0], deliver, direction, dst)

    loop.add_reader(relay_fd, pump, DOWN, relay_fd, tablet_fd)
    loop.add_reader(tablet_fd, pump, UP, tablet_fd, relay_fd)
    await loop.create_future()  # forwards until the bench terminates this process
