"""The lean RTP send loop: a viewer's packets go from the shared payloads to its socket.

aiortc's `RTCRtpSender._run_rtp` builds an `RtpPacket` object per packet, serializes its
header extensions through a generic map, reads the NTP clock twice through `datetime`, and
awaits four coroutine layers (DTLS, ICE transport, ICE connection, STUN protocol) that end in
a non-blocking `sendto`. Profiled at 60 viewers (py-spy), that bookkeeping was over half of
the fan-out's CPU; SRTP encryption and the syscall, which must stay per viewer, were the rest.

This loop does per *frame* what does not change within a frame (timestamp, the way out) and
hands the frame to the viewer's pacer (pacer.py), which sends its packets spread over time,
per *packet* only: 3 header bytes and SRTP, in place (srtp_out.py); what one pacing slot
sends leaves in one system call where the kernel allows (udp_batch.py). NACKs go to the
pacer too, which resends within a budget (rtx_budget.py). The loop keeps the sender's state
that RTCP sender reports read. It relies on aiortc internals (pinned in pyproject.toml);
`install` checks they are there and otherwise leaves aiortc's own loop in place, so an
aiortc update degrades speed, never correctness.
"""

from __future__ import annotations

import logging
import struct
import types
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State
from aiortc.rtp import HeaderExtensions, pack_header_extensions, unpack_header_extensions
from aiortc.utils import random32

from relay.webrtc.codecs import FEC_MIME_TYPES, fec_payload_types, playout_delay_id
from relay.webrtc.rtp_wire import Wire, ntp_now
from relay.webrtc.srtp_out import Sealer
from relay.webrtc.udp_batch import BatchSender
from relay.webrtc.ulpfec import FecGroup

if TYPE_CHECKING:
    from relay.webrtc.track import RenditionTrack

log = logging.getLogger(__name__)

_EXTENSION_HEAD = struct.Struct("!HH")
# Playout delay min 0, max 0 (12 bits each, in 10 ms): "show each frame as soon as it is
# decoded". Chromium's jitter buffer otherwise held frames 60-515 ms at the glass (bench_glass,
# loaded machine) on top of what the link took; a firefighter wants the newest picture now.
PLAYOUT_DELAY = b"\x00\x00\x00"
_NOT_MEDIA = ("video/rtx", *FEC_MIME_TYPES)

# Sender attributes this loop reads or keeps up to date (name-mangled privates of aiortc).
_P = "_RTCRtpSender__"
_REQUIRED = (
    "track",
    "mid",
    "rtp_header_extensions_map",
    "rtp_started",
    "rtp_exited",
    "ntp_timestamp",
    "rtp_timestamp",
    "octet_count",
    "packet_count",
    "rtx_payload_type",
    "rtt",
)


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
    send = sender.send

    async def send_media_first(parameters: Any) -> None:
        # aiortc sends with the first negotiated codec: never RED, ULPFEC or RTX (an
        # offer may list them first); their payload types go to the pacer's FEC.
        media = [c for c in parameters.codecs if c.mimeType.lower() not in _NOT_MEDIA]
        parameters.codecs = media + [c for c in parameters.codecs if c not in media]
        fec = fec_payload_types(parameters.codecs)
        if fec is not None:
            track.pacer.fec = FecGroup(*fec)
        playout_id = playout_delay_id(parameters.headerExtensions)  # read by _header_extensions
        sender._relay_playout_delay_id = playout_id  # type: ignore[attr-defined]
        await send(parameters)

    sender.send = send_media_first  # type: ignore[method-assign]
    sender._retransmit = types.MethodType(  # type: ignore[method-assign]
        lambda self, sequence_number: _retransmit(self, sequence_number, track), sender
    )
    return True


def _header_extensions(sender: Any, abs_send_time: int) -> bytes:
    """The RTP header's extension block (profile, length, elements) for one frame: aiortc's
    (mid, abs-send-time) and, when negotiated, playout-delay (which aiortc does not know)."""
    extensions = HeaderExtensions(mid=getattr(sender, _P + "mid"), abs_send_time=abs_send_time)
    profile, value = getattr(sender, _P + "rtp_header_extensions_map").set(extensions)
    playout_id = getattr(sender, "_relay_playout_delay_id", None)
    if playout_id is not None:
        elements = unpack_header_extensions(profile, value) if value else []
        profile, value = pack_header_extensions([*elements, (playout_id, PLAYOUT_DELAY)])
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
        self.zeroed = bytes(zeros)  # abs-send-time as zeros: what FEC protects (ulpfec.py)
        self.at: int | None = None
        if len(zeros) == len(ones) and len(changed) == 3 and changed[2] - changed[0] == 2:
            self.at = changed[0]

    def at_time(self, ntp: int) -> bytes:
        if self.at is not None:  # abs-send-time: 6.18 fixed-point seconds, 24 bits
            self.block[self.at : self.at + 3] = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
        return bytes(self.block)


async def _run_rtp(sender: Any, codec: Any, track: RenditionTrack) -> None:
    """Replaces RTCRtpSender._run_rtp for one viewer (same start/exit contract): each frame
    goes to the viewer's pacer (pacer.py), which sends its packets spread over time."""
    getattr(sender, _P + "rtp_started").set()
    dtls = sender.transport
    pacer = track.pacer
    wire = Wire(
        protect=_not_yet,
        sendto=_not_yet,
        address=None,
        connected=lambda: dtls._state == State.CONNECTED,
        ssrc=sender._ssrc,
        payload_type=codec.payloadType,
        extensions=_ExtensionBlock(sender),
        rtx_payload_type=getattr(sender, _P + "rtx_payload_type"),
        rtx_ssrc=sender._rtx_ssrc,
        rtt_s=lambda: getattr(sender, _P + "rtt", None),
    )
    timestamp_origin = random32()
    pair: Any = None
    skipped = track.feed.catch_up()  # DTLS is up: what queued meanwhile may be stale
    if skipped:
        log.info("[viewer %s] skipped %d frames queued during the handshake", track.name, skipped)
    try:
        while True:
            payloads, rtp_timestamp, keyframe = await track.next_payloads()
            if not sender._enabled or not payloads:
                continue
            if dtls._state != State.CONNECTED:
                raise ConnectionError("DTLS not connected")
            nominated = dtls.transport._connection._nominated.get(1)
            if nominated is None:
                raise ConnectionError("ICE has no nominated pair")
            if nominated is not pair:  # the first frame, or ICE nominated another pair
                pair = nominated
                wire.protect = dtls._tx_srtp.protect
                wire.sendto = pair.protocol.transport.sendto
                wire.address = pair.remote_addr
                wire.batch = batch = BatchSender(pair.protocol.transport, pair.remote_addr)
                # Sealed packets are views of a buffer the next viewer's packets reuse: only
                # for a way out that is done with them when the send returns.
                wire.seal = Sealer.of(dtls._tx_srtp) if batch.done_on_return else None
                pacer.wire = wire
            timestamp = (timestamp_origin + rtp_timestamp) & 0xFFFFFFFF
            pacer.push(payloads, timestamp, keyframe)
            # What RTCP sender reports read: the frame's clock now, the counts of sent media.
            setattr(sender, _P + "ntp_timestamp", ntp_now())
            setattr(sender, _P + "rtp_timestamp", timestamp)
            setattr(sender, _P + "octet_count", pacer.video_octets)
            setattr(sender, _P + "packet_count", pacer.video_packets)
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


def _not_yet(*args: Any) -> Any:
    raise ConnectionError("not connected yet")


async def _retransmit(sender: Any, sequence_number: int, track: RenditionTrack) -> None:
    """A NACKed packet: the pacer resends it (RTX if negotiated) if it can still help and
    fits the retransmission budget (rtx_budget.py)."""
    track.pacer.retransmit(sequence_number)
