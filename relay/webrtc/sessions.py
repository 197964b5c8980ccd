"""WHEP viewer sessions: one aiortc peer per viewer, fed from a Rendition without encoding."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from relay.config import LimitsConfig, WebRTCConfig
from relay.fanout.adapt import LadderAdapter
from relay.fanout.rendition import Rendition
from relay.fanout.start import EstimateMemory
from relay.webrtc import codecs, rtp_send
from relay.webrtc.feedback import tap_feedback
from relay.webrtc.ice import configure_host_addresses, rtc_configuration
from relay.webrtc.reclaim import Reclaimer
from relay.webrtc.track import RenditionTrack

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0  # a peer that never completes ICE and DTLS is closed after this
# A peer whose ICE has not completed by then is closed sooner: a client that posted its offer
# and left (or never meant to connect) holds a viewer slot only this long. On a LAN ICE takes
# well under a second; aioice itself would give up only after about 30 s of retries.
ICE_TIMEOUT_S = 10.0


class OfferError(ValueError):
    """The offer is not usable SDP for a video viewer; the message says why."""


class CapacityError(RuntimeError):
    """Too many viewers, per stream or overall."""


def check_offer(sdp: str) -> None:
    """Refuses offers that are not SDP, have no video, or cannot play H.264."""
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("body is not SDP (must start with v=0)")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises many kinds on junk
        raise OfferError(f"malformed SDP: {exc.__class__.__name__}: {exc}") from None
    video = [m for m in parsed.media if m.kind == "video"]
    if not video:
        raise OfferError("offer has no video m-line")
    if not any(c.mimeType.lower() == "video/h264" for m in video for c in m.rtp.codecs):
        raise OfferError("offer does not accept H.264")
    # Missing ICE credentials or DTLS fingerprints are refused by aiortc itself, with a
    # message that create_viewer passes on.


@dataclass
class ViewerSession:
    id: str
    stream: str
    rendition: Rendition
    pc: RTCPeerConnection
    track: RenditionTrack
    remote: str
    created: float = field(default_factory=time.monotonic)
    connected: bool = False
    adapter: LadderAdapter | None = None
    lean_rtp: bool = False  # sent by rtp_send's loop, not aiortc's
    who: str = ""  # the identity watching (token, user or share link), for the audit log
    on_end: Callable[[ViewerSession, str], None] | None = None  # called once, with why
    # The session's own tasks (connect deadline, adapter): cancelled when it closes, so a
    # closed session's peer connection is not kept alive by a sleeping task.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def status(self) -> dict[str, Any]:
        fb = self.adapter.feedback if self.adapter else None
        return {
            "id": self.id[:6],
            "rendition": self.track.rendition.name,
            "auto": self.adapter is not None,
            "connected": self.connected,
            "packets": self.track.subscriber.delivered,
            "dropped": self.track.dropped,
            "switches": self.track.switches,
            # In the relay: drone packet arrived -> this rung's packet ready to send.
            "relay_delay_ms": self.track.rendition.latency_ms.quantile(0.5),
            "remb": fb.remb if fb else None,
            "rtt_ms": round(fb.rtt_s * 1000, 1) if fb and fb.rtt_s else None,
            # docs/congestion-control.md: the link's rate estimate and the last verdict.
            "estimate_bps": round(self.adapter.estimator.estimate_bps) if self.adapter else None,
            "link": self.adapter.last.signal.value if self.adapter and self.adapter.last else None,
            # Sent vs resent packets, and what the pacer dropped (relay/webrtc/pacer.py).
            "pacer": self.track.pacer.stats(),
        }


class SessionManager:
    """Creates, tracks and closes viewer sessions; aclose() ends them all."""

    def __init__(self, webrtc: WebRTCConfig, limits: LimitsConfig) -> None:
        self.webrtc = webrtc
        self.limits = limits
        self.sessions: dict[str, ViewerSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Every viewer peer connection still in memory, closed or not: after a session ends
        # its peer must be freed, and /metrics shows whether it was (churn soak).
        self.peers: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
        self.reclaimer = Reclaimer()
        self.estimates = EstimateMemory()  # per client: where its next Auto viewer starts
        configure_host_addresses(webrtc.ice_addresses)

    def count(self, stream: str | None = None) -> int:
        return sum(1 for s in self.sessions.values() if stream is None or s.stream == stream)

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
        session_id = secrets.token_urlsafe(16)
        pc = RTCPeerConnection(rtc_configuration(self.webrtc.ice_servers))
        self.peers.add(pc)
        track = RenditionTrack(start_on or rendition, session_id[:6])
        if start_on is not None:
            track.switch_to(rendition)
        session = ViewerSession(session_id, stream, rendition, pc, track, remote, who=who)
        self.sessions[session_id] = session
        try:
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
            if len(ladder) > 1:
                feedback = tap_feedback(transceiver.sender)
                session.adapter = LadderAdapter(
                    track.feed,
                    ladder,
                    feedback,
                    lambda r: r.bitrate,
                    start_bps=start_bps,
                    # The pacer paces to the link's estimate and pads on a probe up.
                    on_estimate=track.pacer.set_target_bps,
                    probe=track.pacer.probe,
                    memory=self.estimates,
                    memory_key=memory_key,
                )
            self._watch(session)
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc refuses bad offers with many exception kinds
            log.debug("[viewer %s] negotiation failed", session_id[:6], exc_info=True)
            await self.close(session_id, "negotiation failed")
            raise OfferError(f"cannot answer this offer: {exc or type(exc).__name__}") from None
        session.on_end = on_end  # only a session that was answered is a watch that ends
        log.info("[viewer %s] %s/%s from %s", session_id[:6], stream, rendition.name, remote)
        return session, pc.localDescription.sdp

    def _watch(self, session: ViewerSession) -> None:
        @session.pc.on("connectionstatechange")
        async def on_state() -> None:
            state = session.pc.connectionState
            if state == "connected":
                if not session.connected and session.id in self.sessions:
                    session.connected = True
                    # Adapts only a peer that receives: a queue no one sends from overflows,
                    # and would move an unconnected viewer down the ladder for nothing.
                    if session.adapter is not None:
                        self._spawn(session.adapter.run(), session)
            elif state in ("failed", "closed"):
                await self.close(session.id, f"connection {state}")

        async def connect_deadline() -> None:
            await asyncio.sleep(ICE_TIMEOUT_S)
            if not session.connected and session.pc.iceConnectionState != "completed":
                await self.close(session.id, f"ICE did not complete in {ICE_TIMEOUT_S:.0f} s")
                return
            await asyncio.sleep(CONNECT_TIMEOUT_S - ICE_TIMEOUT_S)
            if not session.connected:
                await self.close(session.id, "ICE did not connect in time")

        self._spawn(connect_deadline(), session)

    def _spawn(self, coro: Coroutine[Any, Any, None], session: ViewerSession) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        for tasks in (self._tasks, session.tasks):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def close(self, session_id: str, reason: str) -> bool:
        """Ends one session; False if it did not exist (already closed)."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        session.track.stop()
        current = asyncio.current_task()
        for task in list(session.tasks):
            if task is not current:  # close() may run in the deadline task itself
                task.cancel()
        with contextlib.suppress(Exception):
            await session.pc.close()
        self.reclaimer.closed(session.pc)
        log.info(
            "[viewer %s] closed: %s (%d packets sent, %d dropped)",
            session_id[:6],
            reason,
            session.track.subscriber.delivered,
            session.track.dropped,
        )
        if session.on_end is not None:
            try:
                session.on_end(session, reason)
            except Exception:  # an observer's failure must not keep a session open
                log.exception("[viewer %s] end callback failed", session_id[:6])
        return True

    async def aclose(self) -> None:
        """Closes every session and watcher; safe to call twice."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(self.close(sid, "shutdown") for sid in list(self.sessions)))
        await self.reclaimer.aclose()
