"""WHIP publisher sessions: one aiortc peer receives a publisher's H.264 without decoding it.

The receiver is tapped (relay.webrtc.receive_tap): each reassembled frame becomes an
AccessUnit in the stream's WhipInbox, with pts from its RTP timestamp, and the relay asks the
publisher for an IDR (PLI) when the stream needs one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import RTCRtpReceiver
from aiortc.codecs import CODECS
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcpeerconnection import find_common_codecs

from relay.audit import AuditLog
from relay.config import WebRTCConfig
from relay.media.access_unit import CLOCK_RATE, AccessUnit
from relay.media.h264 import NAL_IDR, nal_type, split_nal_units
from relay.sources.whip import WhipInbox
from relay.webrtc.peers import OfferError, PeerManager, PeerSession, check_offer, new_session_id
from relay.webrtc.receive_tap import install_tap

log = logging.getLogger(__name__)

MEDIA_TIMEOUT_S = 10.0  # a connected publisher that sends no picture this long is closed
KEYFRAME_COALESCE_S = 1.0  # at most one PLI a second: IDRs are expensive on an LTE uplink
KEYFRAME_SETTLE_S = 0.5  # the transcoder's queue (<= 1 s) drains this soon after an IDR
RESYNC_AFTER_S = 5.0  # RTP time this far from arrival time: re-anchor pts on arrival


def check_publish_offer(sdp: str) -> None:
    """Refuses offers that are not SDP, do not send exactly one H.264 video m-line."""
    parsed = check_offer(sdp)  # SDP at all, a video m-line, H.264 among its codecs
    video = [m for m in parsed.media if m.kind == "video"]
    if len(video) != 1:
        raise OfferError(f"offer has {len(video)} video m-lines; a publisher sends one")
    if video[0].direction not in ("sendonly", "sendrecv"):
        raise OfferError(f"the video m-line is {video[0].direction}: a publisher must send")
    h264 = [c for c in CODECS["video"] if c.mimeType == "video/H264"]
    if not find_common_codecs(h264, video[0].rtp.codecs):
        offered = sorted(
            {
                str(c.parameters.get("profile-level-id", "?"))
                for c in video[0].rtp.codecs
                if c.mimeType.lower() == "video/h264"
            }
        )
        raise OfferError(
            "the relay receives H.264 Constrained Baseline, Main or High "
            "(profile-level-id 42e01f, 4d001f, 640c1f, ...; packetization-mode "
            f"1); the offer has only {', '.join(offered)}"
        )


class _PtsClock:
    """pts on the stream's 90 kHz clock from the RTP timestamp (already unwrapped and made
    relative by aiortc), re-anchored on arrival time when the two disagree by seconds: a
    publisher that restarts its clock or sends nonsense cannot stall the stream."""

    def __init__(self) -> None:
        self._origin_ns: int | None = None
        self._offset = 0

    def pts(self, rtp_ts: int, arrival_ns: int) -> int:
        if self._origin_ns is None:
            self._origin_ns = arrival_ns
            self._offset = -rtp_ts
        pts = rtp_ts + self._offset
        by_arrival = (arrival_ns - self._origin_ns) * CLOCK_RATE // 1_000_000_000
        if abs(pts - by_arrival) > RESYNC_AFTER_S * CLOCK_RATE:
            self._offset = by_arrival - rtp_ts
            pts = by_arrival
        return pts


@dataclass
class PublisherSession(PeerSession):
    """One WHIP publisher of one stream."""

    receiver: RTCRtpReceiver
    inbox: WhipInbox
    answered: bool = False
    units: int = 0
    empty: int = 0
    keyframes: int = 0
    keyframe_requests: int = 0
    first_unit_s: float | None = None
    last_unit: float = 0.0
    _clock: _PtsClock = field(default_factory=_PtsClock)
    _needs_seen: tuple[int, int] = (0, 0)
    _want_pli: bool = True  # until the first keyframe arrives
    _last_pli: float = -1e9
    _last_keyframe: float = -1e9
    _needs: Callable[[], tuple[int, int]] = lambda: (0, 0)
    _pli_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def on_frame(self, frame: JitterFrame) -> None:
        """A reassembled frame from aiortc's jitter buffer, on the event loop."""
        now_ns = time.monotonic_ns()
        types = [nal_type(n) for n in split_nal_units(frame.data)]
        if not types:
            # Padding-only packets (a browser's bandwidth probes) reassemble to an empty
            # "frame"; fed to a decoder, an empty packet means "drain" and ends decoding.
            self.empty += 1
            return
        keyframe = NAL_IDR in types
        self.units += 1
        self.last_unit = now_ns / 1e9
        if self.first_unit_s is None:
            self.first_unit_s = self.last_unit - self.created
        if keyframe:
            self.keyframes += 1
            self._want_pli = False  # whoever wanted one gets this one
            self._last_keyframe = self.last_unit
        pts = self._clock.pts(frame.timestamp, now_ns)
        self.inbox.put(self.id, AccessUnit(frame.data, pts, keyframe, now_ns))
        self._note_needs()
        if self._want_pli:
            self.request_keyframe()

    def _note_needs(self) -> None:
        asked, resyncs = self._needs()
        asked_before, resyncs_before = self._needs_seen
        self._needs_seen = (asked, resyncs)
        # Units the transcoder drops just after an IDR were queued before it: no new need.
        settled = time.monotonic() - self._last_keyframe > KEYFRAME_SETTLE_S
        if asked != asked_before or (resyncs != resyncs_before and settled):
            self._want_pli = True

    def request_keyframe(self) -> None:
        """Sends a PLI to the publisher, at most one per KEYFRAME_COALESCE_S; a request in
        between stays pending until then (or until a keyframe arrives)."""
        self._want_pli = True
        now = time.monotonic()
        if now - self._last_pli < KEYFRAME_COALESCE_S:
            return
        sources = self.receiver.getSynchronizationSources()
        if not sources:
            return  # nothing received yet: the publisher's first picture is an IDR anyway
        self._want_pli = False
        self._last_pli = now
        self.keyframe_requests += 1
        # A single-underscore method of aiortc's receiver: the one that sends PLI for its
        # own decoder; there is no public API for asking a remote sender for an IDR.
        task = asyncio.get_running_loop().create_task(
            self.receiver._send_rtcp_pli(sources[0].source)
        )
        self._pli_tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._pli_tasks.discard)

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id[:6],
            "connected": self.connected,
            "units": self.units,
            "keyframes": self.keyframes,
            "keyframe_requests": self.keyframe_requests,
            "first_unit_s": self.first_unit_s,
            "remote": self.remote,
        }


class PublishedStream(Protocol):
    """The stream a publisher feeds (relay.stream.Stream), as this layer sees it."""

    @property
    def name(self) -> str: ...

    def keyframe_needs(self) -> Callable[[], tuple[int, int]]:
        """Counters that grow whenever the stream needs an IDR from its source."""
        ...


class PublishManager(PeerManager[PublisherSession]):
    """Creates, tracks and closes publisher sessions; aclose() ends them all."""

    kind = "publisher"

    def __init__(self, webrtc: WebRTCConfig, audit: AuditLog) -> None:
        super().__init__(webrtc)
        self.audit = audit

    async def create_publisher(
        self, stream: PublishedStream, inbox: WhipInbox, offer_sdp: str, remote: str
    ) -> tuple[PublisherSession, str]:
        """Answers a WHIP offer; raises OfferError, BusyError or AlreadyPublishing."""
        check_publish_offer(offer_sdp)
        self.admit()
        session_id = new_session_id()
        inbox.claim(session_id)  # before negotiating: two racing POSTs cannot both win
        pc = self.new_peer()
        transceiver = pc.addTransceiver("video", direction="recvonly")
        session = PublisherSession(
            session_id,
            stream.name,
            pc,
            remote,
            receiver=transceiver.receiver,
            inbox=inbox,
            _needs=stream.keyframe_needs(),
        )
        self.sessions[session_id] = session

        def prepare() -> None:
            # Before setRemoteDescription, so that the answer offers H.264 only: Constrained
            # Baseline first, Main and High too (relay.webrtc.codecs registers them; the
            # relay never decodes on this path, its transcoder decodes any profile).
            capabilities = RTCRtpReceiver.getCapabilities("video")
            assert capabilities is not None
            transceiver.setCodecPreferences(
                [c for c in capabilities.codecs if c.mimeType in ("video/H264", "video/rtx")]
            )
            install_tap(transceiver.receiver, session.on_frame)
            self.spawn(self._media_watchdog(session), session)

        def after_offer() -> None:
            for other in pc.getTransceivers():
                if other is not transceiver:
                    # Audio is not relayed: inactive, so aiortc starts no decoder for it.
                    other.direction = "inactive"

        answer = await self.answer(session, offer_sdp, prepare, after_offer)
        inbox.request_keyframe = session.request_keyframe
        session.answered = True
        log.info("[publisher %s] publishes %s from %s", session_id[:6], stream.name, remote)
        return session, answer

    async def _media_watchdog(self, session: PublisherSession) -> None:
        while session.id in self.sessions:
            await asyncio.sleep(1.0)
            if session.connected and (
                time.monotonic() - max(session.last_unit, session.created) > MEDIA_TIMEOUT_S
            ):
                await self.close(session.id, f"no picture for {MEDIA_TIMEOUT_S:.0f} s")

    def for_stream(self, stream: str) -> PublisherSession | None:
        return next((s for s in self.sessions.values() if s.stream == stream), None)

    def closing(self, session: PublisherSession) -> None:
        session.inbox.release(session.id)

    def closed(self, session: PublisherSession, reason: str, who: str) -> None:
        """Every end of a publisher that got its answer is audited, with who ended it and
        why."""
        if session.answered:
            self.audit.append(
                "publish_stop",
                who,
                session.remote,
                stream=session.stream,
                session=session.id[:6],
                reason=reason,
                units=session.units,
            )
        log.info(
            "[publisher %s] closed: %s (%d units, %d keyframes, %d PLI sent)",
            session.id[:6],
            reason,
            session.units,
            session.keyframes,
            session.keyframe_requests,
        )
