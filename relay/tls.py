"""TLS for the web server: checks `[server] tls_cert`/`tls_key` at start and builds the context.

The files are checked one by one before OpenSSL sees them, so that an operator reads which
key and which file is wrong ("not a PEM certificate", "does not match") instead of OpenSSL's
"PEM lib".
"""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from relay.config import ServerConfig
from relay.errors import ConfigError

log = logging.getLogger(__name__)

MAX_PEM = 1024 * 1024  # a certificate chain is a few KiB


def _read(key: str, path: str, origin: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PEM + 1)
    except OSError as exc:
        raise ConfigError(
            f"{origin}: server.{key}: cannot read {path}: {exc.strerror}", key=f"server.{key}"
        ) from None
    if len(data) > MAX_PEM:
        raise ConfigError(
            f"{origin}: server.{key}: {path} is larger than 1 MiB", key=f"server.{key}"
        )
    return data


def server_ssl_context(server: ServerConfig, origin: str) -> ssl.SSLContext | None:
    """The HTTPS context for `server` (TLS 1.2 or newer), or None when TLS is not configured;
    raises ConfigError naming the key and the file."""
    if not server.tls_cert:
        return None
    cert_path, key_path = server.tls_cert, server.tls_key
    cert_pem = _read("tls_cert", cert_path, origin)
    key_pem = _read("tls_key", key_path, origin)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError(
            f"{origin}: server.tls_cert: {cert_path} is not a PEM certificate",
            key="server.tls_cert",
        ) from None
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # TypeError: the key is encrypted; the relay starts unattended, so it cannot ask.
        raise ConfigError(
            f"{origin}: server.tls_key: {key_path} is not an unencrypted PEM private key",
            key="server.tls_key",
        ) from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != private_key.public_key().public_bytes(*spki):
        raise ConfigError(
            f"{origin}: server.tls_key: {key_path} does not belong to the "
            f"certificate in server.tls_cert ({cert_path})",
            key="server.tls_key",
        )
    if cert.not_valid_after_utc < datetime.now(UTC):
        log.warning(
            "[tls] the certificate in %s expired on %s: browsers will refuse it",
            cert_path,
            cert.not_valid_after_utc.date(),
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{origin}: server.tls_cert: {cert_path} with {key_path}: {exc}", key="server.tls_cert"
        ) from None
    return context
