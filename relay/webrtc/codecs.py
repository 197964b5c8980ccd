"""H.264 profiles in the SDP answer: the drone's own profile for passthrough viewers.

aiortc registers H.264 only as Constrained Baseline (42001f, 42e01f) and matches offers by
profile (docs/measured-facts.md), so a drone's Main or High stream passed through would go
out labelled as Baseline: browsers happen to decode it, but the answer would not say what is
sent. The relay registers Main and High as well, and a viewer that may receive the drone's own
packets is answered with the drone's profile when its offer accepts it. Transcoded rungs are x264
Constrained Baseline and keep being answered as such.
"""

from __future__ import annotations

from aiortc import RTCRtpSender
from aiortc.codecs import CODECS, HEADER_EXTENSIONS
from aiortc.rtcrtpparameters import (
    RTCRtcpFeedback,
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)

BASELINE = ("42001f", "42e01f")
EXTRA_PROFILES = ("4d001f", "640c1f", "64001f")  # Main; High, with and without constraint
FEC_MIME_TYPES = ("video/red", "video/ulpfec")
PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
PROFILE_NAMES = {0x42: "baseline", 0x4D: "main", 0x58: "extended", 0x64: "high"}


def register_profiles() -> None:
    """Adds Main and High to aiortc's H.264 codecs once (payload types after its own)."""
    video = CODECS["video"]
    known = {c.parameters.get("profile-level-id") for c in video if c.name == "H264"}
    next_pt = max(c.payloadType or 0 for c in video) + 1
    for profile in EXTRA_PROFILES:
        if profile in known:
            continue
        video.append(
            RTCRtpCodecParameters(
                mimeType="video/H264",
                clockRate=90000,
                payloadType=next_pt,
                rtcpFeedback=[
                    RTCRtcpFeedback(type="nack"),
                    RTCRtcpFeedback(type="nack", parameter="pli"),
                    RTCRtcpFeedback(type="goog-remb"),
                ],
                parameters={
                    "level-asymmetry-allowed": "1",
                    "packetization-mode": "1",
                    "profile-level-id": profile,
                },
            )
        )
        video.append(
            RTCRtpCodecParameters(
                mimeType="video/rtx",
                clockRate=90000,
                payloadType=next_pt + 1,
                parameters={"apt": next_pt},
            )
        )
        next_pt += 2


def register_fec() -> None:
    """Adds RED and ULPFEC (relay.webrtc.ulpfec) to aiortc's video codecs once: answered
    when a browser offers them, they let a lossy link's viewer get FEC."""
    video = CODECS["video"]
    if any(c.mimeType in FEC_MIME_TYPES for c in video):
        return
    next_pt = max(c.payloadType or 0 for c in video) + 1
    for offset, mime in enumerate(FEC_MIME_TYPES):
        video.append(
            RTCRtpCodecParameters(mimeType=mime, clockRate=90000, payloadType=next_pt + offset)
        )


def register_playout_delay() -> None:
    """Adds the playout-delay header extension to aiortc's video extensions once: answered
    when a browser offers it (Chromium does), the relay asks for no playout delay
    (rtp_send.PLAYOUT_DELAY)."""
    video = HEADER_EXTENSIONS["video"]
    if any(e.uri == PLAYOUT_DELAY_URI for e in video):
        return
    free_id = max(e.id for e in video) + 1
    video.append(RTCRtpHeaderExtensionParameters(id=free_id, uri=PLAYOUT_DELAY_URI))


def playout_delay_id(extensions: list[RTCRtpHeaderExtensionParameters]) -> int | None:
    """The negotiated id of the playout-delay extension, if the answer has it."""
    return next((e.id for e in extensions if e.uri == PLAYOUT_DELAY_URI), None)


def fec_payload_types(codecs: list[RTCRtpCodecParameters]) -> tuple[int, int] | None:
    """RED's and ULPFEC's payload types in a negotiated codec list, if both are there."""
    types = {c.mimeType.lower(): c.payloadType for c in codecs}
    red, ulpfec = types.get("video/red"), types.get("video/ulpfec")
    return (red, ulpfec) if red is not None and ulpfec is not None else None


def _registered_for(profile_idc: int, constrained: bool) -> str | None:
    """The registered profile-level-id that names a drone's profile in the answer."""
    if profile_idc == 0x42:
        return "42e01f" if constrained else "42001f"
    if profile_idc == 0x4D:
        return "4d001f"
    if profile_idc == 0x64:
        return "640c1f" if constrained else "64001f"
    return None


def preferences(source_profile: str | None = None) -> list[RTCRtpCodecCapability]:
    """Codec preferences for a viewer's transceiver: the drone's profile first when given
    (passthrough may be sent), then Constrained Baseline (the transcoded rungs), RTX, RED and
    ULPFEC."""
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    by_profile = {
        c.parameters.get("profile-level-id"): c for c in capabilities if c.mimeType == "video/H264"
    }
    wanted: list[str] = []
    if source_profile:
        profile_idc, flags = int(source_profile[:2], 16), int(source_profile[2:4], 16)
        # constraint_set1 (0x40) makes Baseline "constrained"; set3+set4 mark
        # Constrained High; x264's "high" without those is plain High.
        match = _registered_for(profile_idc, bool(flags & 0x40) or flags & 0x0C == 0x0C)
        if match:
            wanted.append(match)
    wanted += [p for p in BASELINE[::-1] if p not in wanted]
    chosen = [by_profile[p] for p in wanted if p in by_profile]
    return chosen + [c for c in capabilities if c.mimeType in ("video/rtx", *FEC_MIME_TYPES)]


register_profiles()
register_fec()
register_playout_delay()
