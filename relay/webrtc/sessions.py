"""WHEP viewer sessions: one aiortc peer per viewer, fed from a Rendition without encoding."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from relay.config import LimitsConfig, WebRTCConfig
from relay.fanout.adapt import LadderAdapter
from relay.fanout.rendition import Rendition
from relay.fanout.start import EstimateMemory
from relay.webrtc import codecs, rtp_send
from relay.webrtc import peers as _peers
from relay.webrtc.feedback import tap_feedback
from relay.webrtc.ice import configure_host_addresses
from relay.webrtc.peers import (
    CONNECT_TIMEOUT_S,
    BusyError,
    OfferError,
    PeerManager,
    PeerSession,
    check_offer,
    new_session_id,
)
from relay.webrtc.track import RenditionTrack

__all__ = [
    "BusyError",
    "CONNECT_TIMEOUT_S",
    "CapacityError",
    "OfferError",
    "SessionManager",
    "ViewerSession",
    "check_offer",
]

log = logging.getLogger(__name__)


class CapacityError(RuntimeError):
    """Too many viewers, per stream or overall."""


@dataclass
class ViewerSession(PeerSession):
    rendition: Rendition
    track: RenditionTrack
    adapter: LadderAdapter | None = None
    lean_rtp: bool = False  # sent by rtp_send's loop, not aiortc's
    who: str = ""  # the identity watching (token, user or share link), for the audit log
    on_end: Callable[[ViewerSession, str], None] | None = None  # called once, with why

    def status(self) -> dict[str, Any]:
        fb = self.adapter.feedback if self.adapter else None
        return {
            "id": self.id[:6],
            "rendition": self.track.rendition.name,
            "auto": self.adapter is not None and len(self.adapter.ladder) > 1,
            "connected": self.connected,
            "packets": self.track.subscriber.delivered,
            "dropped": self.track.dropped,
            "switches": self.track.switches,
            # In the relay: drone packet arrived -> sent to this viewer. Two parts: until
            # the rung's packet is ready for all its viewers (p50), then this viewer's wait
            # in its pacer's queue (the last frame's; docs/delay.md).
            **self.delay_parts(),
            "remb": fb.remb if fb else None,
            "rtt_ms": round(fb.rtt_s * 1000, 1) if fb and fb.rtt_s else None,
            # docs/congestion-control.md: the link's rate estimate and the last verdict.
            "estimate_bps": round(self.adapter.estimator.estimate_bps) if self.adapter else None,
            "link": self.adapter.last.signal.value if self.adapter and self.adapter.last else None,
            # Sent vs resent packets, and what the pacer dropped (relay/webrtc/pacer.py).
            "pacer": self.track.pacer.stats(),
        }

    def delay_parts(self) -> dict[str, float | None]:
        rung = self.track.rendition.latency_ms.quantile(0.5)
        queue = round(self.track.pacer.queue_delay_ms, 1)
        return {
            "relay_delay_ms": None if rung is None else round(rung + queue, 1),
            "rung_delay_ms": rung,
            "send_queue_ms": queue,
        }


class SessionManager(PeerManager[ViewerSession]):
    """Creates, tracks and closes viewer sessions; aclose() ends them all."""

    kind = "viewer"

    def __init__(self, webrtc: WebRTCConfig, limits: LimitsConfig) -> None:
        super().__init__(webrtc)
        self.limits = limits
        self.estimates = EstimateMemory()  # per client: where its next Auto viewer starts
        configure_host_addresses(webrtc.ice_addresses)

    def count(self, stream: str | None = None) -> int:
        return sum(1 for s in self.sessions.values() if stream is None or s.stream == stream)

    def ice_timeout_s(self) -> float:
        return _peers.ICE_TIMEOUT_S  # read at each offer: tests shorten it

    async def create_viewer(
        self,
        stream: str,
        rendition: Rendition,
        offer_sdp: str,
        remote: str,
        ladder: Sequence[Rendition] = (),
        start_on: Rendition | None = None,
        source_profile: str | None = None,
        who: str = "",
        on_end: Callable[[ViewerSession, str], None] | None = None,
        start_bps: float | None = None,
        memory_key: str = "",
    ) -> tuple[ViewerSession, str]:
        """Answers a WHEP offer; returns the session and the answer SDP. With a ladder the
        viewer adapts along it, starting on `rendition`; without, it stays there. With
        `start_on`, the first pictures come from that rendition until `rendition` has a
        keyframe (passthrough cannot force one). `source_profile` (the drone's H.264
        profile-level-id) is answered first when the viewer may get passthrough packets.
        An adapting viewer's rate estimate starts at `start_bps` and is remembered in
        `self.estimates` under `memory_key` (relay.fanout.start)."""
        check_offer(offer_sdp)
        if self.count(stream) >= self.limits.max_viewers_per_stream:
            raise CapacityError(f"stream {stream!r} has its maximum of viewers")
        if self.count() >= self.limits.max_viewers:
            raise CapacityError("the relay has its maximum of viewers")
        self.admit()
        session_id, pc = new_session_id(), self.new_peer()
        track = RenditionTrack(start_on or rendition, session_id[:6])
        if start_on is not None:
            track.switch_to(rendition)
        session = ViewerSession(
            session_id, stream, pc, remote, rendition=rendition, track=track, who=who
        )
        self.sessions[session_id] = session

        def prepare() -> None:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            # Before setRemoteDescription, or aiortc answers with the browser's first
            # codec (VP8) and would have to encode (docs/measured-facts.md).
            transceiver.setCodecPreferences(codecs.preferences(source_profile))
            # aiortc creates the sender's encoder lazily; this one returns the payloads
            # built once per packet for all viewers.
            transceiver.sender._RTCRtpSender__encoder = track.encoder  # type: ignore[attr-defined]
            session.lean_rtp = rtp_send.install(transceiver.sender, track)
            # A viewer's PLI/FIR reaches its current rung's one encoder, coalesced there.
            transceiver.sender._send_keyframe = (  # type: ignore[method-assign]
                lambda: track.rendition.request_keyframe()
            )
            # A viewer of one rung has a one-rung ladder: it never moves, but its link is
            # watched all the same (the pacer's target and clear link, FEC, outages).
            feedback = tap_feedback(transceiver.sender)
            adapts = len(ladder) > 1
            session.adapter = LadderAdapter(
                track.feed,
                ladder if adapts else [rendition],
                feedback,
                lambda r: r.bitrate,
                start_bps=start_bps,
                # The pacer paces to the link's estimate and pads on a probe up.
                on_estimate=track.pacer.set_target_bps,
                probe=track.pacer.probe,
                protect=track.pacer.protect,  # FEC from the link's loss
                # Only an Auto viewer's estimate says where its next start may begin: a
                # fixed rung held says nothing of the link another tablet of the same
                # identity uses.
                memory=self.estimates if adapts else None,
                memory_key=memory_key,
            )

        answer = await self.answer(session, offer_sdp, prepare)
        session.on_end = on_end  # only a session that was answered is a watch that ends
        log.info("[viewer %s] %s/%s from %s", session_id[:6], stream, rendition.name, remote)
        return session, answer

    def on_connected(self, session: ViewerSession) -> None:
        # Adapts only a peer that receives: a queue no one sends from overflows, and would
        # move an unconnected viewer down the ladder for nothing.
        # ICE and DTLS took a few round trips since the answer: how far the tablet is.
        handshake_s = time.monotonic() - session.created
        log.info("[viewer %s] connected %.2f s after the answer", session.id[:6], handshake_s)
        if session.adapter is not None:
            self.spawn(session.adapter.run(handshake_s), session)

    def closing(self, session: ViewerSession) -> None:
        session.track.stop()

    def closed(self, session: ViewerSession, reason: str, who: str) -> None:
        log.info(
            "[viewer %s] closed: %s (%d packets sent, %d dropped)",
            session.id[:6],
            reason,
            session.track.subscriber.delivered,
            session.track.dropped,
        )
        if session.on_end is not None:
            try:
                session.on_end(session, reason)
            except Exception:  # an observer's failure must not keep a session open
                log.exception("[viewer %s] end callback failed", session.id[:6])
