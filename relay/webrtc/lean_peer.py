"""Peer connections that cost the event loop little to create: an offer flood must not cost
the watched streams frames.

Profiled under a flood of WHIP offers (py-spy, 10 offers/s), most of an offer's time on the
loop went to two things aiortc does for every RTCPeerConnection, whether it ever connects:

- a DTLS certificate: a new EC key and a signed X.509 certificate per peer. Browsers create
  one per origin and reuse it; the relay creates one per process (renewed before aiortc's
  30-day validity ends) and gives it to every peer it creates.
- a receive-side bandwidth estimator per video receiver, with a rate counter of 1000
  one-millisecond buckets (1000 Python objects, which the garbage collector then walks).
  Every transceiver has a receiver, also a viewer's send-only one, which never receives.
  The relay builds the estimator on first use, i.e. when RTP actually arrives.

Both are module-level replacements inside aiortc, installed once (install()).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import aiortc.rtcpeerconnection
import aiortc.rtcrtpreceiver
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCCertificate

CERTIFICATE_RENEW_S = 7 * 24 * 3600.0  # aiortc's certificates are valid 30 days

_generate = RTCCertificate.generateCertificate
_local = threading.local()  # only peers created by create_peer() share the certificate
_shared: tuple[RTCCertificate, float] | None = None
_shared_made = 0  # certificates made for the shared slot (tests check that it is one)


def shared_certificate() -> RTCCertificate:
    """The process's DTLS certificate, made on first use and renewed weekly."""
    global _shared, _shared_made
    now = time.monotonic()
    if _shared is None or now - _shared[1] > CERTIFICATE_RENEW_S:
        _shared = (_generate(), now)
        _shared_made += 1
    return _shared[0]


def certificates_made() -> int:
    return _shared_made


class _ReusingCertificate(RTCCertificate):
    """What aiortc.rtcpeerconnection calls RTCCertificate: inside create_peer() its
    generateCertificate() answers with the shared certificate; elsewhere (a test's own
    client peers in the same process) with a fresh one, as aiortc does."""

    @classmethod
    def generateCertificate(cls) -> Any:  # noqa: N802 (aiortc's name)
        if getattr(_local, "reuse", False):
            return shared_certificate()
        return _generate()


class _LazyBitrateEstimator:
    """Stands in for aiortc's RemoteBitrateEstimator and builds it on first use."""

    __slots__ = ("_real",)

    def __init__(self) -> None:
        self._real: RemoteBitrateEstimator | None = None

    def __getattr__(self, name: str) -> Any:
        if self._real is None:
            self._real = RemoteBitrateEstimator()
        return getattr(self._real, name)


def install() -> None:
    """Installs both replacements (idempotent)."""
    # setattr: the names are aiortc's imports, not exported attributes
    setattr(aiortc.rtcpeerconnection, "RTCCertificate", _ReusingCertificate)  # noqa: B010
    setattr(aiortc.rtcrtpreceiver, "RemoteBitrateEstimator", _LazyBitrateEstimator)  # noqa: B010


def create_peer(configuration: RTCConfiguration) -> RTCPeerConnection:
    """An RTCPeerConnection with the process's shared DTLS certificate."""
    install()
    _local.reuse = True
    try:
        return RTCPeerConnection(configuration)
    finally:
        _local.reuse = False
