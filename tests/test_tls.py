"""TLS: `drone-relay selfsigned` makes a usable pair; `[server] tls_cert/tls_key` are checked
at start (exit 2 naming key and file) and the relay then serves https://."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from relay.config import ServerConfig
from relay.tls import server_ssl_context
from tests.conftest import free_port
from tests.test_cli import run_cli


def selfsigned(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("selfsigned", "--out", str(out), *args)


def test_selfsigned_makes_key_and_certificate(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    result = selfsigned(
        out,
        "--name",
        "elw1.local",
        "--name",
        "relay.lan",
        "--ip",
        "10.1.2.3",
        "--ip",
        "127.0.0.1",
        "--days",
        "30",
    )
    assert result.returncode == 0, result.stderr
    cert_path, key_path = out / "cert.pem", out / "key.pem"
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["elw1.local", "relay.lan"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3", "127.0.0.1"]
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert 30 <= days <= 31
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert fingerprint in result.stdout
    assert f'tls_cert = "{cert_path}"' in result.stdout
    assert f'tls_key = "{key_path}"' in result.stdout
    # Never overwrites a key by accident; --force does, with a new key.
    again = selfsigned(out, "--ip", "127.0.0.1")
    assert again.returncode == 2 and "--force" in again.stderr
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == cert
    forced = selfsigned(out, "--ip", "127.0.0.1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) != cert
    assert os.stat(key_path).st_mode & 0o777 == 0o600


def test_selfsigned_defaults_cover_this_machine(tmp_path: Path) -> None:
    result = selfsigned(tmp_path)
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--ip", "10.0.0.300"], "--ip"),
        (["--name", "bad name"], "--name"),
        (["--name", "-leading.dash"], "--name"),
        (["--days", "0"], "--days"),
        (["--days", "5000"], "--days"),
        (["--days", "many"], "--days"),
    ],
)
def test_selfsigned_bad_arguments_exit_2(tmp_path: Path, args: list[str], said: str) -> None:
    result = selfsigned(tmp_path, *args)
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert not (tmp_path / "key.pem").exists()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("tls")
    assert selfsigned(out, "--ip", "127.0.0.1", "--name", "localhost").returncode == 0
    return out / "cert.pem", out / "key.pem"


def _config(tmp_path: Path, cert: str | None, key: str | None) -> Path:
    lines = ["[server]"]
    if cert is not None:
        lines.append(f'tls_cert = "{cert}"')
    if key is not None:
        lines.append(f'tls_key = "{key}"')
    path = tmp_path / "relay.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_tls_settings_exit_2_naming_key_and_file(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    cert, key = pair
    other = tmp_path / "other"
    assert selfsigned(other, "--ip", "127.0.0.1").returncode == 0
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("hello\n")
    cases = [
        ((str(cert), None), "server.tls_key", "relay.toml"),
        ((None, str(key)), "server.tls_cert", "relay.toml"),
        ((str(tmp_path / "missing.pem"), str(key)), "server.tls_cert", "missing.pem"),
        ((str(cert), str(tmp_path / "nokey.pem")), "server.tls_key", "nokey.pem"),
        ((str(not_pem), str(key)), "server.tls_cert", "notes.txt"),
        ((str(cert), str(not_pem)), "server.tls_key", "notes.txt"),
        ((str(cert), str(other / "key.pem")), "server.tls_key", str(other / "key.pem")),
        ((str(key), str(key)), "server.tls_cert", "key.pem"),
    ]
    for (c, k), name, file in cases:
        result = run_cli("serve", "--config", str(_config(tmp_path, c, k)), "--port", "0")
        assert result.returncode == 2, (c, k, result.stderr)
        assert name in result.stderr and file in result.stderr, (c, k, result.stderr)


def test_server_context_refuses_tls_below_1_2(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    context = server_ssl_context(ServerConfig(tls_cert=str(cert), tls_key=str(key)), "<test>")
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server_ssl_context(ServerConfig(), "<test>") is None


def test_serve_over_https_from_relative_paths(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    (tmp_path / "tls").mkdir()
    for src in pair:
        (tmp_path / "tls" / src.name).write_bytes(src.read_bytes())
    config = _config(tmp_path, "tls/cert.pem", "tls/key.pem")  # relative to the cwd
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay", "serve", "--config", str(config), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/healthz", timeout=2, context=trusted
                ) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "relay did not serve https"
            time.sleep(0.2)
        with pytest.raises(OSError):  # plain HTTP on the TLS port gets nowhere
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert f"https://127.0.0.1:{port}/" in out and "http://" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
