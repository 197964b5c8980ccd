"""SRTP sealed in place (srtp_out.py): the same packets pylibsrtp's protect makes, byte for
byte, whatever their sizes and however many wait in the scratch buffer; what does not fit
falls back to protect; and through the pacer's send loop and one GSO system call, a viewer's
SRTP session decrypts exactly the packets meant."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys

import pytest
from pylibsrtp import Policy, Session

from relay.webrtc.pacer_send import send_plain
from relay.webrtc.rtp_wire import Wire
from relay.webrtc.rtx_budget import HISTORY_SIZE, Sent
from relay.webrtc.srtp_out import MAX_CLEAR, SCRATCH_BYTES, Sealer
from relay.webrtc.udp_batch import BatchSender

KEY = bytes(range(30))
SSRC = 0x1234ABCD
HEAD = struct.Struct("!BBH")
REST = struct.pack("!LL", 90_000, SSRC)  # timestamp, SSRC
# A one-byte header extension block (mid "0"), as a viewer's header carries one.
EXTENSION = bytes.fromhex("bede0001") + b"\x10\x30\x00\x00"


def session(direction: int) -> Session:
    return Session(policy=Policy(key=KEY, ssrc_type=direction))


def outbound() -> Session:
    return session(Policy.SSRC_ANY_OUTBOUND)


def clear_packet(sequence: int, payload: bytes) -> tuple[bytes, bytes, bytes]:
    return HEAD.pack(0x90, 102, sequence), REST + EXTENSION, payload


def test_sealed_packets_are_protects_byte_for_byte() -> None:
    sealing, protecting, receiving = outbound(), outbound(), session(Policy.SSRC_ANY_INBOUND)
    sealer = Sealer.of(sealing)
    assert sealer is not None
    # Odd sizes too: each packet starts at a multiple of 8 whatever the one before it.
    sizes = [1, 37, 1199, 1200, 3, MAX_CLEAR - 24, 640, 1201, 5]
    parts = [clear_packet(n, bytes([n % 251]) * size) for n, size in enumerate(sizes)]
    # All sealed before any is read: none may overwrite another until the rewind.
    sealed = [sealer(*p) for p in parts]
    assert all(isinstance(packet, memoryview) for packet in sealed)
    for (head, tail, payload), packet in zip(parts, sealed, strict=True):
        assert bytes(packet) == protecting.protect(head + tail + payload)
        assert receiving.unprotect(bytes(packet)) == head + tail + payload
    sealer.rewind()
    again = clear_packet(len(sizes), b"after the rewind")
    assert bytes(sealer(*again)) == protecting.protect(b"".join(again))


def test_what_does_not_fit_is_protected_as_bytes_and_too_long_is_refused() -> None:
    sealing, protecting = outbound(), outbound()
    sealer = Sealer.of(sealing)
    assert sealer is not None
    payload = bytes(1200)
    count = SCRATCH_BYTES // 1200 + 10  # more than the scratch holds without a rewind
    sealed = [sealer(*clear_packet(n, payload)) for n in range(count)]
    assert isinstance(sealed[0], memoryview) and isinstance(sealed[-1], bytes)
    for n, packet in enumerate(sealed):
        assert bytes(packet) == protecting.protect(b"".join(clear_packet(n, payload)))
    with pytest.raises(ValueError, match="too long"):
        sealer(*clear_packet(count, bytes(MAX_CLEAR)))


class Received(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.datagrams.append(data)


class NoChange:
    block = bytearray(EXTENSION)
    zeroed = EXTENSION

    def at_time(self, ntp: int) -> bytes:
        return EXTENSION


async def test_the_send_loop_seals_and_sends_what_the_viewer_decrypts() -> None:
    loop = asyncio.get_running_loop()
    receiver, got = await loop.create_datagram_endpoint(Received, local_addr=("127.0.0.1", 0))
    sender, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    address = receiver.get_extra_info("sockname")
    try:
        srtp = outbound()
        batch = BatchSender(sender, address)
        wire = Wire(
            protect=srtp.protect,
            sendto=sender.sendto,
            address=address,
            connected=lambda: True,
            ssrc=SSRC,
            payload_type=102,
            extensions=NoChange(),
            batch=batch,
            seal=Sealer.of(srtp),
        )
        history: list[Sent | None] = [None] * HISTORY_SIZE
        # Two frames: FU-A fragments a byte apart, then a shorter last one.
        frames = [
            [bytes([1]) * 1180, bytes([2]) * 1180, bytes([3]) * 1179, bytes([4]) * 333],
            [bytes([5]) * 900, bytes([6]) * 41],
        ]
        sequence, clear = 7, []
        for payloads in frames:
            todo = (payloads, 0, REST, REST + EXTENSION, sequence, 0.0, 1e9)
            index, after, _, _ = send_plain(wire, history, todo)
            assert index == len(payloads)
            for n, payload in enumerate(payloads):
                marker = 0x80 if n == len(payloads) - 1 else 0
                clear.append(HEAD.pack(0x90, 102 | marker, sequence + n) + REST + EXTENSION)
                clear[-1] += payload
            sequence = after
        for _ in range(200):
            if len(got.datagrams) >= len(clear):
                break
            await asyncio.sleep(0.01)
        viewer = session(Policy.SSRC_ANY_INBOUND)
        assert [viewer.unprotect(d) for d in got.datagrams] == clear
        if sys.platform.startswith("linux"):  # the first frame's fragments in one call
            assert wire.segmented == 5
    finally:
        sender.close()
        receiver.close()
