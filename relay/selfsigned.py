"""A self-signed certificate for the relay's LAN names and addresses (`drone-relay selfsigned`).

An ECDSA P-256 key: small, fast, and accepted by every browser the brigade uses.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import os
import re
import socket
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAX_DAYS = 3650


def check_dns_name(name: str) -> str | None:
    """Why `name` cannot be a certificate's DNS name, or None when it can."""
    labels = name.rstrip(".").split(".")
    if labels and labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]  # a wildcard is allowed as the whole leftmost label
    if len(name) > 253 or not all(DNS_LABEL.match(label) for label in labels):
        return f"{name!r} is not a DNS name (letters, digits, '-' and dots)"
    return None


def default_names() -> tuple[list[str], list[IpAddress]]:
    """This machine's host name, localhost, 127.0.0.1 and its non-loopback addresses."""
    names = ["localhost"]
    host = socket.gethostname()
    if host and check_dns_name(host) is None and host != "localhost":
        names.insert(0, host)
    ips: list[IpAddress] = [ipaddress.ip_address("127.0.0.1")]
    try:
        from aioice.ice import get_host_addresses  # what the relay offers as ICE candidates

        for address in get_host_addresses(use_ipv4=True, use_ipv6=True):
            ip = ipaddress.ip_address(address)
            if not (ip.is_loopback or ip.is_link_local) and ip not in ips:
                ips.append(ip)
    except OSError:
        pass
    return names, ips


@dataclass(frozen=True)
class SelfSigned:
    """A key and its self-signed certificate, PEM encoded."""

    cert_pem: bytes
    key_pem: bytes
    fingerprint_sha256: str  # AA:BB:… as browsers show it
    spki_sha256_b64: str  # for Chromium's --ignore-certificate-errors-spki-list


def make_self_signed(names: list[str], ips: list[IpAddress], days: int) -> SelfSigned:
    """A new P-256 key and a certificate for `names` and `ips`, valid from now for `days`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, (names or [str(ip) for ip in ips])[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "drone-relay"),
        ]
    )
    now = datetime.now(UTC)
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt += [x509.IPAddress(ip) for ip in ips]
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tablets whose clocks run behind
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SelfSigned(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        spki_sha256_b64=base64.b64encode(hashlib.sha256(spki).digest()).decode(),
    )


def write_pair(out: Path, made: SelfSigned, force: bool) -> tuple[Path, Path]:
    """Writes cert.pem (0644) and key.pem (0600) into `out`; FileExistsError unless `force`."""
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / "cert.pem", out / "key.pem"
    if not force:
        for path in (cert_path, key_path):
            if path.exists():
                raise FileExistsError(str(path))
    for path, data, mode in ((key_path, made.key_pem, 0o600), (cert_path, made.cert_pem, 0o644)):
        if force and path.exists():
            path.unlink()  # a new file gets `mode`; an old, wider one would keep its own
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return cert_path, key_path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Declares `drone-relay selfsigned` on the CLI's subcommands."""
    p = sub.add_parser(
        "selfsigned",
        help="make a self-signed TLS certificate for the LAN",
        description="Makes key.pem (ECDSA P-256, mode 0600) and cert.pem for "
        "the given names and addresses. Default: this machine's host name, "
        "localhost, 127.0.0.1 and its non-loopback addresses.",
    )
    p.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="HOST",
        help="DNS name the tablets use (repeatable)",
    )
    p.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="IP",
        help="IP address the tablets use (repeatable)",
    )
    p.add_argument(
        "--out",
        default="data/tls",
        metavar="DIR",
        help="folder for cert.pem and key.pem (default: data/tls)",
    )
    p.add_argument(
        "--days",
        type=int,
        default=825,
        metavar="N",
        help=f"validity in days, 1..{MAX_DAYS} (default 825)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def _fail(message: str) -> int:
    print(f"drone-relay selfsigned: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """The `selfsigned` command: exit 0 when written, 2 on bad arguments or existing files."""
    if not 1 <= args.days <= MAX_DAYS:
        return _fail(f"--days must be within 1..{MAX_DAYS}")
    for name in args.name:
        why = check_dns_name(name)
        if why:
            return _fail(f"--name {why}")
    ips: list[IpAddress] = []
    for value in args.ip:
        try:
            ips.append(ipaddress.ip_address(value))
        except ValueError:
            return _fail(f"--ip {value!r} is not an IP address")
    names = list(dict.fromkeys(args.name))
    if not names and not ips:
        names, ips = default_names()
    made = make_self_signed(names, list(dict.fromkeys(ips)), args.days)
    try:
        cert_path, key_path = write_pair(Path(args.out), made, args.force)
    except FileExistsError as exc:
        return _fail(f"{exc} exists; use --force to replace it")
    except OSError as exc:
        return _fail(f"cannot write into {args.out}: {exc.strerror}")
    print(f"wrote {cert_path} and {key_path} (key mode 0600), valid {args.days} days for:")
    print("  " + ", ".join([*names, *(str(ip) for ip in ips)]))
    print(f"SHA-256 fingerprint: {made.fingerprint_sha256}")
    print("Add to the [server] table of the relay's config:")
    print(f'  tls_cert = "{cert_path}"')
    print(f'  tls_key = "{key_path}"')
    return 0
