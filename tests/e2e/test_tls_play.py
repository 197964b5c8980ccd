"""Under TLS: Chromium plays the demo stream from https:// with a certificate made by
`drone-relay selfsigned` and trusted by the test (by its key, not by ignoring all errors),
and an aiortc WHEP viewer plays over https too."""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from relay.api.factory import create_app
from relay.api.keys import RELAY
from relay.app import Relay
from relay.config import parse_config
from relay.tls import server_ssl_context
from tests.conftest import ADMIN_TOKEN, TOKENS
from tests.e2e.browser import chromium
from tests.e2e.test_browser import SIM, poll
from tests.test_cli import run_cli
from tests.whep_client import WhepViewer


@pytest.fixture
async def tls_relay(tmp_path: Path) -> AsyncIterator[tuple[str, Relay, Path]]:
    """A relay serving https://127.0.0.1:PORT with a fresh `drone-relay selfsigned` pair."""
    made = run_cli("selfsigned", "--ip", "127.0.0.1", "--out", str(tmp_path / "tls"))
    assert made.returncode == 0, made.stderr
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    config = parse_config(
        {
            "server": {
                "tls_cert": str(cert),
                "tls_key": str(key),
                "data_dir": str(tmp_path / "data"),
            },
            "webrtc": {"ice_addresses": ["127.0.0.1"]},
            "streams": [SIM],
            "auth": {"tokens": TOKENS},
        },
        "<test>",
    )
    context = server_ssl_context(config.server, config.origin)
    app = create_app(config)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}", app[RELAY], cert
    finally:
        await runner.cleanup()


def spki_pin(cert: Path) -> str:
    """The base64 SHA-256 of the certificate's public key, as Chromium's SPKI list wants it."""
    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def test_chromium_plays_over_https(tls_relay: tuple[str, Relay, Path]) -> None:
    base_url, relay, cert = tls_relay
    # Trust exactly this key: any other certificate would still be an error.
    async with chromium([f"--ignore-certificate-errors-spki-list={spki_pin(cert)}"]) as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        started = time.monotonic()
        login = await page.goto(f"{base_url}/login?token={ADMIN_TOKEN}")
        assert login is not None and login.ok  # the session cookie is Secure under TLS
        response = await page.goto(base_url + "/play/demo")
        assert response is not None and response.ok and response.url.startswith("https://")
        assert await page.evaluate("() => window.isSecureContext")
        first = await poll(
            page,
            lambda s: s["w"] > 0 and s["presented"] > 0,
            20,
            "the first video frame over https",
        )
        first_s = time.monotonic() - started
        # Auto starts on 360p (nothing known of the link) and climbs on this clean one.
        assert (first["w"], first["h"]) == (640, 360)
        await poll(page, lambda s: s["w"] == 1280 and s["h"] == 720, 15, "the climb to 720p")
        await poll(
            page,
            lambda s: s["presented"] >= first["presented"] + 30,
            10,
            "presented frames to keep growing",
        )
        assert relay.sessions.count() == 1
        print(f"first frame in Chromium over https {first_s:.2f} s after page load")


async def test_chromium_refuses_an_untrusted_certificate(
    tls_relay: tuple[str, Relay, Path],
) -> None:
    """The check above can fail: without the pin Chromium refuses the self-signed cert."""
    base_url, _relay, _cert = tls_relay
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="ERR_CERT"):
            await page.goto(base_url + "/play/demo")


async def test_whep_viewer_over_https(tls_relay: tuple[str, Relay, Path]) -> None:
    base_url, relay, cert = tls_relay
    trusted = ssl.create_default_context(cafile=str(cert))
    viewer = WhepViewer(base_url, "demo", rendition="360p", ssl=trusted, token=ADMIN_TOKEN)
    try:
        await viewer.start()
        await viewer.wait_frames(30)
        assert set(viewer.received.sizes) == {(640, 360)}
        assert len(viewer.received.counters) >= 25
    finally:
        await viewer.close()
    # The system's CAs do not know this certificate.
    untrusted = WhepViewer(base_url, "demo", token=ADMIN_TOKEN)
    try:
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.start()
    finally:
        await untrusted.close()
    assert relay.sessions.count() == 0
