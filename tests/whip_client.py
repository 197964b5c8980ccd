"""A real aiortc WHIP publisher for tests: the sim scene with its frame marks, encoded by aiortc."""

from __future__ import annotations

import time

import aiohttp
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription, VideoStreamTrack
from aiortc.codecs.h264 import H264Encoder

from relay.sources.sim_scene import SimScene
from relay.webrtc.ice import rtc_configuration
from tests.conftest import ADMIN_TOKEN


class SceneTrack(VideoStreamTrack):
    """Frames of the synthetic flight at 30 fps, counter and capture time burned in."""

    def __init__(self, width: int = 640, height: int = 360) -> None:
        super().__init__()
        self.scene = SimScene(width, height, 30)
        self.index = 0

    async def recv(self):  # type: ignore[no-untyped-def]
        pts, time_base = await self.next_timestamp()
        frame = self.scene.render(self.index)
        self.index += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


class LongGopEncoder(H264Encoder):
    """aiortc's H.264 encoder with a GOP as long as a drone's, counting the IDRs that the
    receiver's PLIs force (aiortc's own GOP is FFmpeg's default of 12 frames)."""

    def __init__(self, gop: int) -> None:
        self.gop = gop
        self.forced = 0
        super().__init__()

    @property
    def codec(self):  # type: ignore[no-untyped-def]
        return self._codec

    @codec.setter
    def codec(self, value) -> None:  # type: ignore[no-untyped-def]
        if value is not None:  # aiortc creates it lazily, and again on bitrate changes
            value.gop_size = self.gop
        self._codec = value

    def encode(self, frame, force_keyframe: bool = False):  # type: ignore[no-untyped-def]
        self.forced += force_keyframe
        return super().encode(frame, force_keyframe)


class WhipPublisher:
    """One publisher: publish() posts the offer; the answer's status is kept for tests."""

    def __init__(
        self,
        base_url: str,
        stream: str,
        with_audio: bool = False,
        headers: dict[str, str] | None = None,
        size: tuple[int, int] = (640, 360),
        gop: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.url = f"{base_url}/whip/{stream}"
        self.with_audio = with_audio
        # The publish token, as the WHIP draft specifies (the tests' admin may publish to
        # every stream); headers={} publishes anonymously.
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if headers is None else headers
        self.pc = RTCPeerConnection(rtc_configuration(()))
        self.track = SceneTrack(*size)
        self.encoder = LongGopEncoder(gop) if gop else None
        self.location: str | None = None
        self.status: int | None = None
        self.body = ""
        self.posted_at = 0.0

    async def publish(self, expect: int = 201) -> None:
        """Makes the offer, posts it; with 201 applies the answer. Asserts the status."""
        if self.with_audio:
            self.pc.addTransceiver("audio", direction="sendonly")
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        capabilities = RTCRtpSender.getCapabilities("video")
        assert capabilities is not None
        transceiver.setCodecPreferences(
            [c for c in capabilities.codecs if c.mimeType in ("video/H264", "video/rtx")]
        )
        if self.encoder is not None:
            transceiver.sender._RTCRtpSender__encoder = self.encoder  # created lazily otherwise
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.posted_at = time.monotonic()
        async with aiohttp.ClientSession() as http:
            async with http.post(
                self.url,
                data=self.pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp", **self.headers},
            ) as resp:
                self.status, self.body = resp.status, await resp.text()
                if resp.status == 201:
                    self.location = resp.headers["Location"]
        assert self.status == expect, f"WHIP POST answered {self.status}: {self.body}"
        if self.status == 201:
            await self.pc.setRemoteDescription(RTCSessionDescription(self.body, "answer"))

    async def delete(self) -> int:
        """Ends publishing the WHIP way; returns the DELETE's status."""
        assert self.location
        async with aiohttp.ClientSession() as http:
            async with http.delete(self.base_url + self.location, headers=self.headers) as resp:
                return resp.status

    async def close(self) -> None:
        await self.pc.close()
