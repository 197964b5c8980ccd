"""A real aiortc WHEP viewer for tests: posts an offer, decodes what arrives, reads the marks."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from relay.media.frame_marks import read_marks
from relay.transcode.processors.osd import planes
from relay.webrtc.ice import rtc_configuration
from tests.marker_jitter import MarkerJitterBuffer

FEC_MIMES = ("video/red", "video/ulpfec")


def badge_u(frame: VideoFrame) -> float:
    """The U plane's mean under the right end of the OSD's badge (bottom right, drawn by
    relay.transcode.processors.osd): amber about 40, the live red about 90, no badge ~128."""
    px = max(12, frame.height // 30)
    margin = px // 2
    u = planes(frame)[1]
    bottom, right = frame.height - margin, frame.width - margin
    rows = slice((bottom - px * 9 // 10) // 2, (bottom - px // 3) // 2)
    cols = slice((right - 2 * px) // 2, (right - px // 2) // 2)
    return float(u[rows, cols].mean())


def luma(frame: VideoFrame) -> npt.NDArray[np.uint8]:
    """The picture's Y plane: a view of a decoded yuv420p frame's own, not a conversion
    (to_ndarray("gray") opened and closed a scaler with its threads for every frame, 0.78 ms
    of CPU at 720p: a sample viewer's cost in bench_fleet, on the relay's own box)."""
    if frame.format.name in ("yuv420p", "yuvj420p"):
        return planes(frame)[0]
    return np.asarray(frame.to_ndarray(format="gray"), np.uint8)


def shows_still(frame: VideoFrame) -> bool:
    """Whether the OSD's badge is amber (a cold start's still) rather than the live red or no
    badge at all (the drone's own picture)."""
    if frame.format.name != "yuv420p" or frame.height < 48:
        return False
    return badge_u(frame) < 65


@dataclass
class Received:
    """What a viewer saw: frame sizes, burned-in counters, delays."""

    sizes: list[tuple[int, int]] = field(default_factory=list)
    unmarked: int = 0  # frames without readable marks (slate frames)
    # (arrival monotonic s, counter or None, delay ms or None) per decoded frame
    timeline: list[tuple[float, int | None, float | None]] = field(default_factory=list)
    first_frame_s: float | None = None
    started: float = field(default_factory=time.monotonic)
    last_frame: VideoFrame | None = None  # the newest decoded picture, for pixel checks
    # Timeline indexes of a cold start's still (the OSD's amber "STANDBILD" badge on a marked
    # picture): an old picture shown on purpose, not a live one, so not among the counters.
    stills: set[int] = field(default_factory=set)

    def _marked_live(self) -> list[tuple[int, float]]:
        """(counter, delay) of the marked frames that are not stills, in arrival order."""
        return [
            (c, d)
            for i, (_, c, d) in enumerate(self.timeline)
            if c is not None and d is not None and i not in self.stills
        ]

    @property
    def counters(self) -> list[int]:
        """Burned-in frame counters of the marked live frames, in arrival order."""
        return [c for c, _ in self._marked_live()]

    @property
    def delays_ms(self) -> list[float]:
        """Capture -> decoded delay of the marked live frames, in arrival order."""
        return [d for _, d in self._marked_live()]

    @property
    def frames(self) -> int:
        return len(self.sizes)


def _policed(recv, rate_bps: int, burst_bytes: int = 12_000):  # type: ignore[no-untyped-def]
    """A token-bucket policer on the viewer's receive path: a weak LTE link. Datagrams over
    the rate are lost, as a mobile network's policer would lose them."""
    state = {"tokens": float(burst_bytes), "at": time.monotonic()}

    async def receive() -> bytes:
        while True:
            data: bytes = await recv()
            now = time.monotonic()
            state["tokens"] = min(burst_bytes, state["tokens"] + (now - state["at"]) * rate_bps / 8)
            state["at"] = now
            if state["tokens"] >= len(data):
                state["tokens"] -= len(data)
                return data

    return receive


def _lossy(recv, lose_every: int):  # type: ignore[no-untyped-def]
    """Loses every n-th RTP datagram on the viewer's receive path (STUN and DTLS pass):
    a link with steady packet loss, which NACK and retransmission should repair."""
    state = {"rtp": 0}

    async def receive() -> bytes:
        while True:
            data: bytes = await recv()
            if data and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223:  # RTP, not RTCP
                state["rtp"] += 1
                if state["rtp"] % lose_every == 0:
                    continue
            return data

    return receive


class WhepViewer:
    """One viewer: start(), then frames pile up in .received until close()."""

    def __init__(
        self,
        base_url: str,
        stream: str,
        rendition: str | None = None,
        with_audio: bool = False,
        throttle_bps: int | None = None,
        lose_every: int | None = None,
        token: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        headers: dict[str, str] | None = None,
        configuration: RTCConfiguration | None = None,
    ) -> None:
        # WHEP authenticates with a Bearer token, as the WHEP draft specifies (or, with
        # `headers`, a browser's session cookie and CSRF header).
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.headers.update(headers or {})
        self.ssl: ssl_module.SSLContext | bool = ssl or True  # True: verify as usual
        self.with_audio = with_audio
        self.throttle_bps = throttle_bps
        self.lose_every = lose_every
        self.url = f"{base_url}/whep/{stream}" + (f"?rendition={rendition}" if rendition else "")
        self.base_url = base_url
        self.pc = RTCPeerConnection(configuration or rtc_configuration(()))
        self.received = Received()
        self.location: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.prepare()
        await self.post()

    async def prepare(self) -> None:
        """Makes the offer (ICE gathering, DTLS certificate): the slow, client-side part."""
        if self.with_audio:  # many WHEP players offer audio too; the relay has none
            self.pc.addTransceiver("audio", direction="recvonly")
        video = self.pc.addTransceiver("video", direction="recvonly")
        # As an aiortc client elsewhere offers: without RED and ULPFEC, which the relay adds
        # to aiortc's codecs in this process (relay.webrtc.codecs) and aiortc cannot decode.
        codecs = RTCRtpReceiver.getCapabilities("video").codecs
        video.setCodecPreferences([c for c in codecs if c.mimeType.lower() not in FEC_MIMES])
        # Frames go to the decoder at their last packet, as in Chromium, not a frame later
        # (tests/marker_jitter.py): aiortc's receiver makes its buffer in its constructor.
        # Checked first: were aiortc to rename it, the assignment would add an unused
        # attribute and the viewers would silently wait the frame again.
        receiver: Any = video.receiver
        assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, JitterBuffer)
        receiver._RTCRtpReceiver__jitter_buffer = MarkerJitterBuffer(capacity=512, is_video=True)

        @self.pc.on("track")
        def on_track(track) -> None:  # type: ignore[no-untyped-def]
            if track.kind != "video":
                return
            self._task = asyncio.ensure_future(self._consume(track))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        if self.throttle_bps:
            ice = self.pc.getTransceivers()[-1].receiver.transport.transport
            ice._recv = _policed(ice._recv, self.throttle_bps)
        if self.lose_every:
            ice = self.pc.getTransceivers()[-1].receiver.transport.transport
            ice._recv = _lossy(ice._recv, self.lose_every)

    async def post(self) -> None:
        """The WHEP request: the join as the relay sees it."""
        self.received.started = time.monotonic()
        async with aiohttp.ClientSession() as http:
            async with http.post(
                self.url,
                data=self.pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp", **self.headers},
                ssl=self.ssl,
            ) as resp:
                body = await resp.text()
                if resp.status != 201:
                    raise AssertionError(f"WHEP POST answered {resp.status}: {body}")
                self.location = resp.headers["Location"]
        await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))

    async def _consume(self, track) -> None:  # type: ignore[no-untyped-def]
        r = self.received
        try:
            while True:
                frame = await track.recv()
                now_ms = time.time() * 1000
                if r.first_frame_s is None:
                    r.first_frame_s = time.monotonic() - r.started
                r.sizes.append((frame.width, frame.height))
                r.last_frame = frame
                marks = read_marks(luma(frame))
                if marks is None:
                    r.unmarked += 1
                    r.timeline.append((time.monotonic(), None, None))
                else:
                    if shows_still(frame):
                        r.stills.add(len(r.timeline))
                    r.timeline.append((time.monotonic(), marks[0], now_ms - marks[1]))
        except MediaStreamError:
            pass

    async def wait_frames(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.received.frames < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.received.frames} frames in {timeout} s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.location:
            async with aiohttp.ClientSession() as http:
                async with http.delete(
                    self.base_url + self.location, headers=self.headers, ssl=self.ssl
                ):
                    pass
        if self._task:
            self._task.cancel()
        await self.pc.close()
