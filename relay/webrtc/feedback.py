"""What a viewer's receiver reports over RTCP (loss, REMB, round-trip time), for the
fan-out's LadderAdapter (relay.fanout.adapt)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiortc import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from relay.fanout.adapt import LinkFeedback


def tap_feedback(sender: RTCRtpSender) -> LinkFeedback:
    """Wraps the sender's RTCP handler to record loss and REMB; aiortc keeps them private."""
    feedback = LinkFeedback()
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    feedback.loss = max(feedback.loss, report.fraction_lost / 256)
                    feedback.loss_reports += 1
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if sender._ssrc in ssrcs:
                    feedback.remb = bitrate
        await original(packet)
        feedback.rtt_s = getattr(sender, "_RTCRtpSender__rtt", None)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]
    return feedback
