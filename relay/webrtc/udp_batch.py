"""A viewer's packets of one pacing slot in one system call: Linux's UDP segmentation offload.

At 100 viewers of a 720p rung the event loop sends ~21,000 packets a second (the rung's 2
Mbit/s in ~1,200-byte packets), one `sendto` each; py-spy's samples of that send (bench_glass,
100 other viewers) over that many packets come to ~13 µs a packet, an estimate, more than the
SRTP encryption before it. Linux (4.18+) takes a run of datagrams for one address in one
`sendmsg` with the `UDP_SEGMENT` option and cuts them apart in the kernel (GSO). On this
machine: 8.3 µs a packet one by one, 3.8 µs a packet seven to a call. The pacer hands over
what one slot sends (a P-frame's packets, a keyframe's share of a tick) as one list.

The kernel cuts at every `gso_size` bytes whatever the buffers, so a run must be packets of
one size with at most a shorter last one: a 1,100-byte packet between two of 1,200 came out
as two datagrams of 1,200, the receiver's packets broken. `runs()` keeps that rule (an H.264
frame's FU-A fragments differ by at most one byte, the larger ones first: at most two runs).

Everything else goes through the asyncio transport one packet at a time, as before: a single
packet, not Linux, a TURN-relayed pair (no socket of ours), the transport's own queue holding
packets (order), the socket full (the transport queues). An error from the kernel (a route
whose MTU is smaller than a packet, a kernel without GSO) turns GSO off for that way out.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)

UDP_SEGMENT = 103  # linux/udp.h (Python's socket module names it only from 3.12 on)
MAX_SEGMENTS = 32  # the kernel takes 64 (UDP_MAX_SEGMENTS); a frame's slot is far fewer
MAX_BYTES = 60_000  # one call's datagrams together, under UDP's 64 KiB
_GSO_SIZE = struct.Struct("=H")  # the option's value: the segment size, a native u16


def runs(packets: Sequence[bytes | memoryview]) -> Iterator[tuple[int, int]]:
    """[start, end) of each run one GSO call may carry: packets of one size, at most the
    last one shorter, within MAX_SEGMENTS and MAX_BYTES."""
    start, count = 0, len(packets)
    while start < count:
        size = total = len(packets[start])
        end = start + 1
        while end < count and end - start < MAX_SEGMENTS:
            length = len(packets[end])
            if length > size or total + length > MAX_BYTES:
                break
            end += 1
            total += length
            if length < size:
                break  # a shorter packet ends the run
        yield start, end
        start = end


def gso_socket(transport: Any) -> socket.socket | None:
    """The UDP socket under an asyncio datagram transport if the kernel segments for it."""
    if not sys.platform.startswith("linux") or not isinstance(transport, asyncio.BaseTransport):
        return None
    sock = getattr(transport, "_sock", None)  # asyncio's selector transport; TURN's has none
    if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_DGRAM:
        return None
    try:
        sock.getsockopt(socket.IPPROTO_UDP, UDP_SEGMENT)
    except OSError:  # a kernel before 4.18: ENOPROTOOPT
        return None
    return sock


class BatchSender:
    """Sends one viewer's packets to its ICE pair's address, in GSO runs where it can."""

    def __init__(self, transport: Any, address: Any) -> None:
        self._transport = transport
        self._sendto: Callable[[bytes | memoryview, Any], None] = transport.sendto
        self._address = address
        sock = gso_socket(transport)
        self._sendmsg = sock.sendmsg if sock is not None else None

    @property
    def segmenting(self) -> bool:
        return self._sendmsg is not None

    @property
    def done_on_return(self) -> bool:
        """Whether the way out is done with a packet once a send returns: asyncio's own
        datagram transports send it or queue a copy; a TURN allocation's transport sends it
        later, from a task, so a view of a reused buffer (srtp_out.py) must not go there."""
        transport = self._transport
        return isinstance(transport, asyncio.BaseTransport) and type(
            transport
        ).__module__.startswith("asyncio.")

    def __call__(self, packets: list[bytes | memoryview]) -> int:
        """Sends `packets` in order; returns how many went in runs (one system call each)."""
        sendmsg, sendto, address = self._sendmsg, self._sendto, self._address
        if sendmsg is None or len(packets) < 2 or self._transport.get_write_buffer_size():
            for packet in packets:
                sendto(packet, address)
            return 0
        segmented = 0
        for start, end in runs(packets):
            if end - start == 1:
                sendto(packets[start], address)
                continue
            option = [(socket.IPPROTO_UDP, UDP_SEGMENT, _GSO_SIZE.pack(len(packets[start])))]
            try:
                sendmsg(packets[start:end], option, 0, address)
            except (BlockingIOError, InterruptedError):
                pass  # the socket is full: the transport queues the rest and sends it later
            except OSError as exc:
                log.info("UDP segmentation off for %s: %s", address, exc)
                self._sendmsg = None
            else:
                segmented += end - start
                continue
            for packet in packets[start:]:
                sendto(packet, address)
            break
        return segmented
