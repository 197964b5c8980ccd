"""DTLS with peers whose certificate is RSA: FFmpeg's WHIP muxer by default, GStreamer's
webrtcbin.

aiortc offers only ECDHE-ECDSA cipher suites. When the relay is the DTLS client (it answers
an offer's `actpass` with `active`), the peer's certificate chooses the suite, and a peer
with an RSA certificate finds none it can use: its handshake fails ("Fatal SSL error" in
webrtcbin, "DTLS" in FFmpeg's log). The relay adds the ECDHE-RSA suites of the same
strength after aiortc's own (still preferred): forward secrecy either way, AEAD first.
aiortc builds its SSL context in one method; it is wrapped once per process. Tested with
GStreamer's webrtcbin as a WHEP viewer and a WHIP publisher, and FFmpeg's WHIP muxer with an
RSA certificate (docs/interop.md).

What aiortc cannot do, even so: accept an ECDSA certificate on P-224, which FFmpeg's WHIP
muxer makes for itself when FFmpeg is built on GnuTLS (PyAV's wheels). In DTLS 1.2 OpenSSL
takes a peer's ECDSA key only on a curve among its own supported groups, and the OpenSSL 4.0
inside the cryptography wheel has no P-224 group to add (SSL_CTX_set1_curves_list refuses
"secp224r1"). Such a publisher must pass its own P-256 certificate (cert_file/key_file).
"""

from __future__ import annotations

from typing import Any

from aiortc.rtcdtlstransport import RTCCertificate

SUITES = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
    b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"
)

_original = RTCCertificate._create_ssl_context


def _with_rsa_suites(self: RTCCertificate, *args: Any, **kwargs: Any) -> Any:
    context = _original(self, *args, **kwargs)
    context.set_cipher_list(SUITES)
    return context


def allow_rsa_peers() -> None:
    """Wraps aiortc's SSL context once (idempotent)."""
    RTCCertificate._create_ssl_context = _with_rsa_suites  # type: ignore[method-assign]


allow_rsa_peers()
