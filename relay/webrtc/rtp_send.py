"""The lean RTP send loop: a viewer's packets go from the shared payloads to its socket.

aiortc's `RTCRtpSender._run_rtp` builds an `RtpPacket` object per packet, serializes its
header extensions through a generic map, reads the NTP clock twice through `datetime`, and
awaits four coroutine layers (DTLS, ICE transport, ICE connection, STUN protocol) that end in
a non-blocking `sendto`. Profiled at 60 viewers (py-spy), that bookkeeping was over half of
the fan-out's CPU; SRTP encryption and the syscall, which must stay per viewer, were the rest.

This loop does per *frame* what does not change within a frame (timestamp, header
extensions, the clock) and per *packet* only: 3 header bytes, SRTP protect, sendto. It keeps
the sender's state that RTCP sender reports and NACK retransmissions read, so both still
work. It relies on aiortc internals (pinned in pyproject.toml); `install` checks they are
there and otherwise leaves aiortc's own loop in place, so an aiortc update degrades speed,
never correctness.
"""

from __future__ import annotations

import logging
import struct
import time
import types
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, HeaderExtensions, RtpPacket, wrap_rtx
from aiortc.utils import random32, uint16_add

if TYPE_CHECKING:
    from relay.webrtc.track import RenditionTrack

log = logging.getLogger(__name__)

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900 (NTP epoch) to 1970 (Unix epoch)
_MARKER_PT_SEQ = struct.Struct("!BH")
_FIXED_REST = struct.Struct("!LL")  # timestamp, SSRC
_EXTENSION_HEAD = struct.Struct("!HH")

# Sender attributes this loop reads or keeps up to date (name-mangled privates of aiortc).
_P = "_RTCRtpSender__"
_REQUIRED = (
    "track",
    "mid",
    "rtp_header_extensions_map",
    "rtp_started",
    "rtp_exited",
    "rtp_history",
    "ntp_timestamp",
    "rtp_timestamp",
    "octet_count",
    "packet_count",
    "rtx_payload_type",
    "rtx_sequence_number",
)


def ntp_now() -> int:
    """The wall clock as 64-bit NTP (32.32 fixed point), without datetime arithmetic."""
    return int((time.time() + NTP_UNIX_OFFSET) * (1 << 32))


def install(sender: RTCRtpSender, track: RenditionTrack) -> bool:
    """Makes `sender` send `track` with the lean loop; False (aiortc's loop stays) when this
    aiortc lacks an internal the loop needs."""
    missing = [name for name in _REQUIRED if not hasattr(sender, _P + name)]
    if missing:
        log.warning(
            "lean RTP sender unavailable with this aiortc (no %s): using aiortc's",
            ", ".join(missing),
        )
        return False
    sender._run_rtp = types.MethodType(  # type: ignore[method-assign]
        lambda self, codec: _run_rtp(self, codec, track), sender
    )
    sender._retransmit = types.MethodType(  # type: ignore[method-assign]
        lambda self, sequence_number: _retransmit(self, sequence_number, track), sender
    )
    return True


def _header_extensions(sender: Any, abs_send_time: int) -> bytes:
    """The RTP header's extension block (profile, length, elements) for one frame."""
    extensions = HeaderExtensions(mid=getattr(sender, _P + "mid"), abs_send_time=abs_send_time)
    profile, value = getattr(sender, _P + "rtp_header_extensions_map").set(extensions)
    if not value:
        return b""
    return bytes(_EXTENSION_HEAD.pack(profile, len(value) >> 2) + value)


class _ExtensionBlock:
    """A viewer's header extension block, built once: per frame only abs-send-time's three
    bytes change (found by building the block with that field all zeros and all ones)."""

    def __init__(self, sender: Any) -> None:
        zeros, ones = _header_extensions(sender, 0), _header_extensions(sender, 0xFFFFFF)
        changed = [i for i, (a, b) in enumerate(zip(zeros, ones, strict=False)) if a != b]
        self.block = bytearray(zeros)
        self.at: int | None = None
        if len(zeros) == len(ones) and len(changed) == 3 and changed[2] - changed[0] == 2:
            self.at = changed[0]

    def at_time(self, ntp: int) -> bytes:
        if self.at is not None:  # abs-send-time: 6.18 fixed-point seconds, 24 bits
            self.block[self.at : self.at + 3] = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
        return bytes(self.block)


async def _run_rtp(sender: Any, codec: Any, track: RenditionTrack) -> None:
    """Replaces RTCRtpSender._run_rtp for one viewer (same start/exit contract)."""
    getattr(sender, _P + "rtp_started").set()
    history: dict[int, tuple[bytes, bytes]] = {}
    setattr(sender, _P + "rtp_history", history)
    dtls = sender.transport
    extensions = _ExtensionBlock(sender)
    first_byte = bytes([0x90 if extensions.block else 0x80])
    pack_marker_pt_seq = _MARKER_PT_SEQ.pack
    sequence_number = random_sequence_number()
    timestamp_origin = random32()
    payload_type = codec.payloadType
    ssrc = sender._ssrc
    try:
        while True:
            payloads, rtp_timestamp = await track.next_payloads()
            if not sender._enabled or not payloads:
                continue
            if dtls._state != State.CONNECTED:
                raise ConnectionError("DTLS not connected")
            pair = dtls.transport._connection._nominated.get(1)
            if pair is None:
                raise ConnectionError("ICE has no nominated pair")
            sendto = pair.protocol.transport.sendto
            address = pair.remote_addr
            protect = dtls._tx_srtp.protect

            ntp = ntp_now()
            timestamp = (timestamp_origin + rtp_timestamp) & 0xFFFFFFFF
            rest = _FIXED_REST.pack(timestamp, ssrc) + extensions.at_time(ntp)
            last = len(payloads) - 1
            octets = 0
            for i, payload in enumerate(payloads):
                header = (
                    first_byte
                    + pack_marker_pt_seq(
                        payload_type | 0x80 if i == last else payload_type, sequence_number
                    )
                    + rest
                )
                # The payload is shared by all viewers: the history keeps a reference to it
                # and this viewer's ~30-byte header, not a copy of the packet.
                history[sequence_number % RTP_HISTORY_SIZE] = (header, payload)
                sendto(protect(header + payload), address)
                octets += len(payload)
                sequence_number = (sequence_number + 1) & 0xFFFF
            setattr(sender, _P + "ntp_timestamp", ntp)
            setattr(sender, _P + "rtp_timestamp", timestamp)
            setattr(sender, _P + "octet_count", getattr(sender, _P + "octet_count") + octets)
            setattr(
                sender, _P + "packet_count", getattr(sender, _P + "packet_count") + len(payloads)
            )
    except MediaStreamError:
        pass  # the track ended: the viewer left or was closed
    except (ConnectionError, OSError, AttributeError) as exc:
        # The peer went away (transport closed under us): an expected ending.
        log.debug("[viewer %s] RTP ended: %s", track.name, exc)
    except Exception:
        if track.readyState == "live":
            log.exception("[viewer %s] RTP send loop failed", track.name)
    finally:
        track.stop()
        setattr(sender, _P + "track", None)
        getattr(sender, _P + "rtp_exited").set()


async def _retransmit(sender: Any, sequence_number: int, track: RenditionTrack) -> None:
    """A NACKed packet, resent from the history kept by the lean loop (RTX if negotiated)."""
    history: dict[int, tuple[bytes, bytes]] = getattr(sender, _P + "rtp_history")
    kept = history.get(sequence_number % RTP_HISTORY_SIZE)
    if kept is None or struct.unpack_from("!H", kept[0], 2)[0] != sequence_number:
        return
    clear = kept[0] + kept[1]
    extensions_map = getattr(sender, _P + "rtp_header_extensions_map")
    rtx_payload_type = getattr(sender, _P + "rtx_payload_type")
    if rtx_payload_type is not None:
        packet = wrap_rtx(
            RtpPacket.parse(clear, extensions_map),
            payload_type=rtx_payload_type,
            sequence_number=getattr(sender, _P + "rtx_sequence_number"),
            ssrc=sender._rtx_ssrc,
        )
        setattr(
            sender,
            _P + "rtx_sequence_number",
            uint16_add(getattr(sender, _P + "rtx_sequence_number"), 1),
        )
        clear = packet.serialize(extensions_map)
    track.retransmits += 1
    await sender.transport._send_rtp(clear)
