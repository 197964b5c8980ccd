"""Several packets to one viewer in one system call (UDP segmentation offload): the receiver
gets exactly the packets sent, in order, whatever their sizes; runs follow the kernel's rule
(one size, at most a shorter last one), since it cuts at every segment size whatever we meant."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relay.webrtc.udp_batch import MAX_SEGMENTS, BatchSender, runs

LINUX = sys.platform.startswith("linux")
SO_NO_CHECK = 11  # asm-generic/socket.h


def sized(*sizes: int) -> list[bytes]:
    """Packets of these sizes, each filled with its own index (so a wrong cut shows)."""
    return [bytes([i % 256]) * size for i, size in enumerate(sizes)]


def test_runs_are_one_size_with_at_most_a_shorter_last_packet() -> None:
    # An FU-A frame: the larger fragments first, one byte apart, then small packets.
    packets = sized(1200, 1200, 1199, 1199, 1199, 40, 500, 800, 800, 800)
    assert list(runs(packets)) == [(0, 3), (3, 6), (6, 7), (7, 10)]
    assert list(runs(sized(*[1000] * (MAX_SEGMENTS + 5)))) == [
        (0, MAX_SEGMENTS),
        (MAX_SEGMENTS, MAX_SEGMENTS + 5),
    ]
    assert list(runs(sized(1200) * 1)) == [(0, 1)]
    assert list(runs([])) == []


class Received(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.datagrams.append(data)

    async def wait(self, count: int) -> list[bytes]:
        """The datagrams once `count` came (or after 2 s)."""
        for _ in range(200):
            if len(self.datagrams) >= count:
                break
            await asyncio.sleep(0.01)
        return self.datagrams


@contextlib.asynccontextmanager
async def pair() -> AsyncIterator[tuple[asyncio.DatagramTransport, Any, Received]]:
    """A sending UDP transport, and the address and record of a receiving one (loopback)."""
    loop = asyncio.get_running_loop()
    receiver, got = await loop.create_datagram_endpoint(Received, local_addr=("127.0.0.1", 0))
    sender, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    try:
        yield sender, receiver.get_extra_info("sockname"), got
    finally:
        sender.close()
        receiver.close()


async def test_the_receiver_gets_every_packet_as_sent() -> None:
    async with pair() as (sender, address, got):
        batch = BatchSender(sender, address)
        assert batch.segmenting == LINUX
        frames = [
            sized(1200, 1200, 1199, 1199, 1199, 40),
            sized(900),
            sized(300, 700, 700, 100, 1200, 1200),
            sized(*[1100] * 40, 17),
        ]
        segmented = [batch(list(frame)) for frame in frames]
        expected = [packet for frame in frames for packet in frame]
        assert await got.wait(len(expected)) == expected
        if LINUX:  # every packet in a run of two or more went in one call
            assert segmented == [6, 0, 5, 41]


async def test_a_kernel_error_turns_segmentation_off_and_nothing_is_lost() -> None:
    if not LINUX:
        pytest.skip("UDP segmentation offload is Linux's")
    async with pair() as (sender, address, got):
        # A socket without UDP checksums cannot segment: the kernel refuses with EINVAL.
        sender.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
        batch = BatchSender(sender, address)
        assert batch.segmenting
        packets = sized(*[1000] * 8, 10)
        assert batch(packets) == 0
        assert not batch.segmenting  # and it stays off for this way out
        assert batch(packets) == 0
        packets = packets * 2
        assert await got.wait(len(packets)) == packets


class LaterTransport:
    """Stands for aioice's TURN transport, which sends from a task after sendto returned."""

    def sendto(self, data: bytes, address: Any) -> None:
        pass


async def test_only_asyncios_own_transport_is_done_with_a_packet_on_return() -> None:
    async with pair() as (sender, address, _):
        assert BatchSender(sender, address).done_on_return
    batch = BatchSender(LaterTransport(), address)
    assert not batch.done_on_return and not batch.segmenting
