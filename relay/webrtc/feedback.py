"""What a viewer's receiver reports over RTCP (receiver reports, REMB, round-trip time, and
that RTCP arrives at all), for the fan-out's LadderAdapter (relay.fanout.adapt)."""

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
    """Wraps the sender's RTCP handler to pass on what the receiver reports; aiortc keeps
    it private. Loss goes on as the cumulative count and the extended highest sequence
    number, so that it is judged over a window of packets, not one report's fraction
    (Chromium sends a report with every NACK)."""
    feedback = LinkFeedback()
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            ours = False
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    ours = True
                    feedback.receiver_report(report.highest_sequence, report.packets_lost)
                elif report.ssrc == sender._rtx_ssrc:  # padding and retransmissions
                    feedback.rtx_report(report.highest_sequence, report.packets_lost)
            if not ours:
                feedback.other()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if sender._ssrc in ssrcs:
                    feedback.remb_report(bitrate)
        else:
            feedback.other()  # NACK, PLI: the link is up
        await original(packet)
        rtt = getattr(sender, "_RTCRtpSender__rtt", None)
        if rtt is not None:
            feedback.round_trip(rtt)
        feedback.rtcp_done()

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]
    return feedback
