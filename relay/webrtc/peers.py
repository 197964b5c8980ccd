"""What a WHEP viewer and a WHIP publisher session share: the offer check, one aiortc peer
per session, the connect deadlines, closing, and giving a closed peer's memory back.

relay.webrtc.sessions (viewers) and relay.webrtc.publish (publishers) subclass PeerManager
and add only what differs: the transceiver they set up, what happens once connected, and
what an ended session leaves behind (an audit line, a released inbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from relay.auth.ratelimit import RateLimiter
from relay.config import WebRTCConfig
from relay.webrtc import dtls_suites  # noqa: F401  (RSA peers: imported for its patch)
from relay.webrtc.ice import rtc_configuration
from relay.webrtc.ice_servers import relay_side
from relay.webrtc.lean_peer import create_peer
from relay.webrtc.reclaim import Reclaimer

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0  # a peer that never completes ICE and DTLS is closed after this
# A viewer whose ICE has not completed by then is closed sooner: a client that posted its
# offer and left (or never meant to connect) holds a viewer slot only this long. On a LAN ICE
# takes well under a second; aioice itself would give up only after about 30 s of retries.
ICE_TIMEOUT_S = 10.0
# Offers that get a peer connection, per manager (viewers, publishers) and second: each costs
# the event loop a few milliseconds (measured 6-15 ms on the loaded 2-core machine), so a
# flood from many addresses (each within its own per-address limit) cannot take more than
# about a fifth of the loop. Above this, offers get 503 with Retry-After; junk refused by
# check_offer costs less and takes no token. Ten a second is one address's limit.
OFFERS_PER_S = 20
OFFER_BURST = 40


class OfferError(ValueError):
    """The offer is not usable SDP for this endpoint; the message says why."""


class BusyError(RuntimeError):
    """Over the relay's offer budget: try again in `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the relay answers at most {OFFERS_PER_S} offers a second; try again")
        self.retry_after_s = retry_after_s


def check_offer(sdp: str) -> SessionDescription:
    """Refuses offers that are not SDP, have no video, or cannot carry H.264; returns the
    parsed offer for the endpoint's own checks."""
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
    # What aiortc itself refuses only after a peer connection was made for the offer (an
    # eighth of the fuzzer's offers), and an offer without a fingerprint, whose DTLS could
    # never complete: refused here, before that cost.
    for media in parsed.media:
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise OfferError(f"the {media.kind} m-line has no ICE username fragment or password")
        if media.kind in ("audio", "video", "application") and not (
            media.dtls and media.dtls.fingerprints
        ):
            raise OfferError(f"the {media.kind} m-line has no DTLS fingerprint")
        if media.kind in ("audio", "video") and not media.rtcp_mux:
            raise OfferError(f"the {media.kind} m-line does not use RTCP mux (a=rtcp-mux)")
    return parsed


def new_session_id() -> str:
    """A session's id: the secret in its Location URL, so unguessable."""
    return secrets.token_urlsafe(16)


@dataclass
class PeerSession:
    """One peer connection of one stream, as the manager sees it."""

    id: str
    stream: str
    pc: RTCPeerConnection
    remote: str
    created: float = field(default_factory=time.monotonic, kw_only=True)
    connected: bool = field(default=False, kw_only=True)
    # The session's own tasks (connect deadline, adapter, watchdog): cancelled when it
    # closes, so a closed session's peer connection is not kept alive by a sleeping task.
    tasks: set[asyncio.Task[None]] = field(default_factory=set, kw_only=True)


S = TypeVar("S", bound=PeerSession)


class PeerManager(Generic[S]):
    """Tracks sessions by id, answers their offers, ends them once; aclose() ends them all."""

    kind = "peer"  # the log's name for a session: "viewer", "publisher"

    def __init__(self, webrtc: WebRTCConfig) -> None:
        self.webrtc = webrtc
        self.sessions: dict[str, S] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Every peer connection still in memory, closed or not: after a session ends its
        # peer must be freed, and /metrics shows whether it was (churn soak).
        self.peers: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
        self.reclaimer = Reclaimer()
        self.budget = RateLimiter(OFFERS_PER_S * 60)
        self.budget.capacity = float(OFFER_BURST)
        self.refused_busy = 0  # offers refused by the budget

    def admit(self) -> None:
        """Takes one offer from the budget, or raises BusyError (call it after the cheap
        checks, before anything that holds a slot)."""
        wait = self.budget.take("offers")
        if wait > 0:
            self.refused_busy += 1
            raise BusyError(wait)

    def new_peer(self) -> RTCPeerConnection:
        """A peer connection for a new session, with the configured ICE servers."""
        pc = create_peer(rtc_configuration(relay_side(self.webrtc.ice_servers)))
        self.peers.add(pc)
        return pc

    def ice_timeout_s(self) -> float:
        """How long a new session may take to complete ICE; CONNECT_TIMEOUT_S: no sooner
        deadline than the connect one."""
        return CONNECT_TIMEOUT_S

    async def answer(
        self,
        session: S,
        offer_sdp: str,
        prepare: Callable[[], None] | None = None,
        after_offer: Callable[[], None] | None = None,
    ) -> str:
        """Applies the offer to a registered session and returns the answer SDP; on any
        failure the session is closed and OfferError says why. `prepare` runs before the
        offer is applied (to add transceivers), `after_offer` between the offer and the
        answer (to shape the transceivers the offer created)."""
        pc = session.pc
        try:
            if prepare is not None:
                prepare()
            self._watch(session)
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            if after_offer is not None:
                after_offer()
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc refuses bad offers with many exception kinds
            log.debug("[%s %s] negotiation failed", self.kind, session.id[:6], exc_info=True)
            await self.close(session.id, "negotiation failed")
            raise OfferError(f"cannot answer this offer: {exc or type(exc).__name__}") from None
        return str(pc.localDescription.sdp)

    def on_connected(self, session: S) -> None:
        """Runs once, when the session's peer first connects."""

    def _watch(self, session: S) -> None:
        @session.pc.on("connectionstatechange")
        async def on_state() -> None:
            state = session.pc.connectionState
            if state == "connected":
                if not session.connected and session.id in self.sessions:
                    session.connected = True
                    self.on_connected(session)
            elif state in ("failed", "closed"):
                await self.close(session.id, f"connection {state}")

        self.spawn(self._connect_deadline(session), session)

    async def _connect_deadline(self, session: S) -> None:
        ice_timeout = min(self.ice_timeout_s(), CONNECT_TIMEOUT_S)
        await asyncio.sleep(ice_timeout)
        if ice_timeout < CONNECT_TIMEOUT_S:
            if not session.connected and session.pc.iceConnectionState != "completed":
                await self.close(session.id, f"ICE did not complete in {ice_timeout:.0f} s")
                return
            await asyncio.sleep(CONNECT_TIMEOUT_S - ice_timeout)
        if not session.connected:
            await self.close(session.id, "ICE did not connect in time")

    def spawn(self, coro: Coroutine[Any, Any, None], session: S) -> None:
        """Runs a task of this session: cancelled when the session or the manager closes."""
        task = asyncio.get_running_loop().create_task(coro)
        for tasks in (self._tasks, session.tasks):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def closing(self, session: S) -> None:
        """Runs when a session ends, before its peer closes (nothing may await here)."""

    def closed(self, session: S, reason: str, who: str) -> None:
        """Runs once after a session's peer closed: its log line, its audit, its observers."""

    async def close(self, session_id: str, reason: str, who: str = "relay") -> bool:
        """Ends one session; False if it did not exist (already closed)."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        self.closing(session)
        current = asyncio.current_task()
        for task in list(session.tasks):
            if task is not current:  # close() may run in the deadline task itself
                task.cancel()
        with contextlib.suppress(Exception):
            await session.pc.close()
        self.reclaimer.closed(session.pc)
        self.closed(session, reason, who)
        return True

    async def aclose(self) -> None:
        """Closes every session and watcher; safe to call twice."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(self.close(sid, "shutdown") for sid in list(self.sessions)))
        await self.reclaimer.aclose()
