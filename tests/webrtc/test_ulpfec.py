"""FEC for lossy links (relay.webrtc.ulpfec): the pacer's RED-wrapped media and ULPFEC
packets, checked by recovering each lost packet the way Chromium's receiver does
(libwebrtc's UlpfecReceiver and ForwardErrorCorrection), on a fake clock."""

from __future__ import annotations

import struct

from relay.webrtc.pacer import Pacer
from relay.webrtc.pacing_tick import TICK_S
from relay.webrtc.rtp_wire import Wire
from relay.webrtc.ulpfec import FecGroup, group_for_loss

H264, RED, ULPFEC, RTX = 102, 118, 120, 103
SSRC = 1111
ABS_SEND_TIME_AT = 5  # in the block below: one-byte header, id 3, 3 bytes


class AbsSendTime:
    """A header extension block with abs-send-time, whose value changes every tick (the
    receiver zeroes it before FEC: the sender must XOR it as zeros too)."""

    def __init__(self) -> None:
        self.block = bytearray(b"\xbe\xde\x00\x01\x32\x00\x00\x00")
        self.zeroed = bytes(self.block)

    def at_time(self, ntp: int) -> bytes:
        self.block[ABS_SEND_TIME_AT : ABS_SEND_TIME_AT + 3] = ((ntp >> 14) & 0xFFFFFF).to_bytes(3)
        return bytes(self.block)


class ThreeElements(AbsSendTime):
    """What a Chromium viewer negotiates: mid, abs-send-time and playout-delay (16 bytes)."""

    def __init__(self) -> None:
        super().__init__()
        self.block = bytearray(b"\xbe\xde\x00\x03\x32\x00\x00\x00\x10\x30\x52\x00\x00\x00\x00\x00")
        self.zeroed = bytes(self.block)


def paced_with_fec(
    group: int, extensions: AbsSendTime | None = None
) -> tuple[Pacer, list[bytes], list[float]]:
    clock = [100.0]
    sent: list[bytes] = []
    pacer = Pacer(lambda: 2_000_000.0, lambda: None, lambda: clock[0], schedule=lambda p: None)
    pacer.wire = Wire(
        protect=lambda data: data,
        sendto=lambda data, address: sent.append(data),
        address=None,
        connected=lambda: True,
        ssrc=SSRC,
        payload_type=H264,
        extensions=extensions or AbsSendTime(),
        rtx_payload_type=RTX,
        rtx_ssrc=2222,
    )
    pacer.fec = FecGroup(RED, ULPFEC)
    pacer.fec.size = group
    clock[0] += 1.0
    return pacer, sent, clock


def run(pacer: Pacer, clock: list[float], seconds: float) -> None:
    end = clock[0] + seconds
    while clock[0] < end:
        clock[0] += TICK_S
        if not pacer.drain(clock[0]):
            pacer.detached()


def unwrap(packet: bytes) -> tuple[bool, bytes]:
    """What Chromium's UlpfecReceiver keeps of a RED packet: (is FEC, data): FEC header and
    payload, or the media packet with its payload type restored; abs-send-time zeroed."""
    assert packet[1] & 0x7F == RED, "with FEC on, every media packet is RED-wrapped"
    # The fixed header, then (X bit) the extension block: media packets carry one element;
    # FEC packets go without.
    headers = 12 + (4 + 4 * struct.unpack("!H", packet[14:16])[0] if packet[0] & 0x10 else 0)
    block = packet[headers]
    assert block & 0x80 == 0, "one RED block, F = 0"
    if block == ULPFEC:
        return True, packet[headers + 1 :]
    media = bytearray(packet[:headers] + packet[headers + 1 :])
    media[1] = (media[1] & 0x80) | block
    media[12 + ABS_SEND_TIME_AT : 12 + ABS_SEND_TIME_AT + 3] = b"\x00\x00\x00"
    return False, bytes(media)


def recover(fec: bytes, others: list[bytes], sequence: int) -> bytes:
    """libwebrtc's recovery of the one missing packet from an FEC packet and the others."""
    mask_size = 6 if fec[0] & 0x40 else 2
    header = 12 + mask_size
    protection = struct.unpack("!H", fec[10:12])[0]
    head = bytearray(fec[0:2] + fec[8:10] + fec[4:8])  # length recovery moved to bytes 2-3
    body = bytearray(fec[header : header + protection])
    for packet in others:
        head[0] ^= packet[0]
        head[1] ^= packet[1]
        length = struct.pack("!H", len(packet) - 12)
        head[2] ^= length[0]
        head[3] ^= length[1]
        for i in range(4):
            head[4 + i] ^= packet[4 + i]
        for i, byte in enumerate(packet[12:]):
            body[i] ^= byte
    head[0] = (head[0] | 0x80) & 0xBF
    length = struct.unpack("!H", bytes(head[2:4]))[0] + 12
    rebuilt = (
        bytes(head[0:2]) + struct.pack("!H", sequence) + bytes(head[4:8]) + struct.pack("!L", SSRC)
    )
    return (rebuilt + bytes(body))[:length]


def test_every_single_loss_in_a_group_is_recovered_as_chromium_does() -> None:
    """Frames of 1-7 packets of differing sizes, marker bits on their last packets, groups
    spanning frames: each media packet, taken away, comes back byte for byte."""
    pacer, sent, clock = paced_with_fec(group=4)
    for n, packets in enumerate((3, 1, 7, 2, 5)):
        payloads = [bytes([n * 16 + i]) * (300 + 97 * i) for i in range(packets)]
        pacer.push(payloads, 3000 * n, keyframe=n == 0)
        run(pacer, clock, 0.05)
    media: dict[int, bytes] = {}
    groups: list[tuple[int, bytes]] = []
    for packet in sent:
        if packet[1] & 0x7F == RTX:
            continue  # fillers (ulpfec: FEC packets' numbers, empty)
        is_fec, data = unwrap(packet)
        sequence = struct.unpack("!H", packet[2:4])[0]
        if is_fec:
            groups.append((sequence, data))
        else:
            media[sequence] = data
    assert len(media) == 18 and len(groups) >= 18 // 4
    recovered = 0
    for _, fec in groups:
        base = struct.unpack("!H", fec[2:4])[0]
        bits = 48 if fec[0] & 0x40 else 16
        mask = int.from_bytes(fec[12 : 12 + bits // 8], "big")
        protected = [(base + i) & 0xFFFF for i in range(bits) if mask >> (bits - 1 - i) & 1]
        assert all(s in media for s in protected), "an FEC packet protects media only"
        for lost in protected:
            others = [media[s] for s in protected if s != lost]
            assert recover(fec, others, lost) == media[lost]
            recovered += 1
    assert recovered == 18 - pacer.fec.count, "every media packet in one group, or still open"


def test_each_fec_packet_is_followed_by_an_empty_filler_and_nacks_get_it_again() -> None:
    """Chromium holds H.264 frames behind a gap in the numbers, an FEC packet's too: each
    FEC packet is followed by an RTX packet that carries its sequence number and nothing
    else (which fills the gap if the FEC packet was lost), and a NACK gets the same."""
    pacer, sent, clock = paced_with_fec(group=3)
    pacer.push([b"\x01" * 500] * 3, 0, keyframe=True)
    run(pacer, clock, 0.05)
    assert unwrap(sent[3])[0]
    fec_sequence = struct.unpack("!H", sent[3][2:4])[0]
    assert len(sent) == 5, "three media packets, the FEC packet, its filler"
    filler = sent[4]
    assert filler[1] & 0x7F == RTX
    assert filler[20:] == struct.pack("!H", fec_sequence), "the original sequence number only"
    clock[0] += 0.2  # a round trip later: the browser NACKs it (the filler was lost too)
    pacer.retransmit(fec_sequence)
    run(pacer, clock, 0.05)
    assert len(sent) == 6 and sent[5][20:] == struct.pack("!H", fec_sequence)


def test_fec_strength_follows_the_loss() -> None:
    assert group_for_loss(0.0) == 0 and group_for_loss(0.001) == 0
    assert group_for_loss(0.005) == 12
    assert group_for_loss(0.02) == 5
    assert group_for_loss(0.05) == 3 and group_for_loss(0.3) == 3


def test_without_fec_media_goes_out_plain() -> None:
    pacer, sent, clock = paced_with_fec(group=4)
    pacer.protect(0.0)
    pacer.push([b"\x02" * 400] * 5, 0, keyframe=True)
    run(pacer, clock, 0.05)
    assert [p[1] & 0x7F for p in sent] == [H264] * 5


def test_full_size_packets_and_their_fec_fit_srtp() -> None:
    """aiortc's H.264 payloads reach 1,300 bytes and pylibsrtp protects at most 1,356: an FEC
    packet carries a media packet's extensions and payload, so it goes without its own
    extension block (with it, playout-delay's 4 more bytes made it 1,363: "too long")."""
    pacer, sent, clock = paced_with_fec(group=3, extensions=ThreeElements())
    pacer.push([bytes([i]) * 1300 for i in range(6)], 0, keyframe=True)
    run(pacer, clock, 0.1)
    fec = [p for p in sent if p[1] & 0x7F == RED and not p[0] & 0x10]
    assert len(fec) == 2 and all(p[12] == ULPFEC for p in fec)
    assert max(len(p) for p in sent) <= 1500 - 144
