"""The certificate an output's WHIP connection uses: a self-signed ECDSA P-256 one.

FFmpeg's WHIP muxer makes its own certificate when given none; in PyAV's wheels (FFmpeg on
GnuTLS) its key is on P-224, and an OpenSSL peer in DTLS 1.2 accepts an ECDSA key only on
a curve among its own groups: aiortc's (another drone-relay's) has no P-224, so the
handshake fails ("A TLS fatal alert has been received"; docs/interop.md). P-256 is the
curve every WebRTC stack offers. Made fresh in a private folder for each connection of the
output's process.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID


def ecdsa_certificate(folder: str) -> dict[str, str]:
    """The WHIP muxer's cert_file/key_file options: a self-signed P-256 certificate."""
    return self_signed(folder, ec.generate_private_key(ec.SECP256R1()))


def self_signed(folder: str, key: CertificateIssuerPrivateKeyTypes) -> dict[str, str]:
    """A self-signed certificate (SHA-256, 30 days) for `key`, written as cert.pem and
    key.pem (PKCS#8) in `folder`; returns their paths as the muxer's options."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "drone-relay")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    paths = {"cert_file": f"{folder}/cert.pem", "key_file": f"{folder}/key.pem"}
    Path(paths["cert_file"]).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(paths["key_file"]).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
