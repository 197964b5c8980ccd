"""FFmpeg's WHIP muxer as the publisher: PyAV 18 (scripts/fake_drone.py) and the ffmpeg CLI.

The pushers run as subprocesses: PyAV holds the GIL through the muxer's HTTP exchange, so in
the relay's own process it would stall the event loop that has to answer it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from aiortc.rtcdtlstransport import RTCCertificate
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from relay.outputs.whip_cert import self_signed
from relay.webrtc import dtls_suites
from tests.conftest import RelayFactory, RunningRelay, wait_for

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fake_drone.py"
WHIP = {"name": "cam", "source": "whip:", "renditions": ["360p"]}

# The muxer publishing 30 frames, with its default certificate or (argv[3]) the certificate
# and key in that folder.
PUSH = """
import sys, av, av.logging
av.logging.set_level(av.logging.ERROR)  # the muxer says why in its error log
folder = sys.argv[3] if len(sys.argv) > 3 else None
own = {"cert_file": f"{folder}/cert.pem", "key_file": f"{folder}/key.pem"} if folder else {}
out = av.open(sys.argv[1], "w", format="whip",
              options={"handshake_timeout": "5000", "authorization": sys.argv[2], **own})
st = out.add_stream("libx264", rate=30)
st.width, st.height, st.pix_fmt = 320, 240, "yuv420p"
st.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
frame = av.VideoFrame(320, 240, "yuv420p")
for i in range(30):
    frame.pts = i
    out.mux(st.encode(frame))
out.close()
"""


async def _run(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, stderr.decode(errors="replace")


async def test_pyav_whip_muxer_publishes_with_an_ecdsa_certificate(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    viewer = relay.viewer("cam", rendition="360p")
    await viewer.start()
    try:
        push = asyncio.ensure_future(
            _run(
                sys.executable,
                str(SCRIPT),
                f"{relay.base_url}/whip/cam",
                "--size",
                "640x360",
                "--gop",
                "30",
                "--seconds",
                "4",
                "--token",
                relay.token,
            )
        )
        await wait_for(
            lambda: len(viewer.received.counters) >= 60 or push.done(),
            40.0,
            "60 frames from the PyAV WHIP muxer",
        )
        code, stderr = await push
        assert code == 0, stderr
        counters = viewer.received.counters
        assert len(counters) >= 60, f"{len(counters)} frames; pusher said: {stderr[-2000:]}"
        assert all(b > a for a, b in zip(counters, counters[1:], strict=False))
        # The muxer DELETEs its session when it closes.
        await wait_for(lambda: not relay.relay.publishers.sessions, 10.0, "the session's end")
    finally:
        await viewer.close()


def rsa_certificate(folder: Path) -> Path:
    """A self-signed RSA-2048 certificate (SHA-256) and its key, as cert.pem and key.pem."""
    self_signed(str(folder), rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return folder


async def _push_with(relay: RunningRelay, certs: Path | None) -> tuple[int, str]:
    """PUSH with the certificate in `certs`, or the muxer's own when None."""
    own = [str(certs)] if certs else []
    return await _run(sys.executable, "-c", PUSH, f"{relay.base_url}/whip/cam", relay.token, *own)


async def test_pyav_whip_muxer_publishes_with_an_rsa_certificate(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """A publisher with an RSA certificate is the DTLS server when the relay answers
    `active`: aiortc alone offers only ECDHE-ECDSA suites ("No supported cipher suites have
    been found"); relay.webrtc.dtls_suites adds ECDHE-RSA ones."""
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path / "data")})
    viewer = relay.viewer("cam", rendition="360p")
    await viewer.start()
    try:
        code, stderr = await _push_with(
            relay, rsa_certificate(Path(tempfile.mkdtemp(dir=tmp_path)))
        )
        assert code == 0, stderr[-2000:]
        await viewer.wait_frames(5, timeout=20)
    finally:
        await viewer.close()


async def test_pyav_whip_muxer_rsa_certificate_fails_without_the_rsa_suites(
    start_relay: RelayFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above can fail: with aiortc's own SSL context the handshake does."""
    monkeypatch.setattr(RTCCertificate, "_create_ssl_context", dtls_suites._original)
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path / "data")})
    code, stderr = await _push_with(relay, rsa_certificate(Path(tempfile.mkdtemp(dir=tmp_path))))
    assert code != 0 and "DTLS session failed" in stderr, stderr[-2000:]


# The muxer's own certificate, in PyAV's wheels (FFmpeg 8.1 built on GnuTLS 3.8): an ECDSA
# key on P-224 (GnuTLS's "medium" key size for ECDSA), in a certificate signed with
# ecdsa-with-SHA256. It offers ECDHE-ECDSA over DTLS 1.2 and X25519, all of which aiortc
# accepts; but in (D)TLS 1.2 OpenSSL takes a peer's ECDSA key only on a curve among its own
# supported groups (tls12_check_peer_sigalg: "wrong curve", alert 47 illegal_parameter),
# and the OpenSSL 4.0 inside the cryptography wheel that aiortc uses has no P-224 group at
# all (SSL_CTX_set1_curves_list(b"secp224r1") fails), so no setting of aiortc's context can
# accept it. FFmpeg built on OpenSSL makes a P-256 key instead. docs/interop.md has the
# evidence; the relay's own WHIP output brings its P-256 certificate (whip_cert).
FFMPEG_DEFAULT_FAILURE = "A TLS fatal alert has been received"


async def test_pyav_whip_muxer_default_certificate_fails_and_is_cleaned_up(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """The muxer's own P-224 certificate fails its DTLS handshake with aiortc (see above);
    the relay drops the half-made publisher."""
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    code, stderr = await _push_with(relay, None)
    assert code != 0 and FFMPEG_DEFAULT_FAILURE in stderr, stderr[-2000:]
    await wait_for(
        lambda: not relay.relay.publishers.sessions, 10.0, "the relay to drop the failed publisher"
    )
    assert relay.relay.streams["cam"].whip.publisher is None  # type: ignore[union-attr]


def test_aiortcs_openssl_has_no_p224_group() -> None:
    """Why the relay cannot simply add P-224 to aiortc's groups (the claim in
    relay.webrtc.dtls_suites): this OpenSSL refuses the group. If a later cryptography
    wheel accepts it, adding it to the groups may let the muxer's default certificate in."""
    from OpenSSL import SSL
    from OpenSSL._util import lib

    context = SSL.Context(SSL.DTLS_METHOD)
    assert lib.SSL_CTX_set1_curves_list(context._context, b"X25519:P-256") == 1
    assert lib.SSL_CTX_set1_curves_list(context._context, b"secp224r1") == 0


@pytest.mark.parametrize(("curve", "works"), [(ec.SECP224R1(), False), (ec.SECP256R1(), True)])
async def test_pyav_whip_muxer_certificate_curve_decides(
    start_relay: RelayFactory, tmp_path: Path, curve: ec.EllipticCurve, works: bool
) -> None:
    """The cause of the failure above, shown with our own certificates that differ from
    each other only in the curve: P-224 fails as the muxer's default does, P-256 publishes."""
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path / "data")})
    certs = Path(tempfile.mkdtemp(dir=tmp_path))
    self_signed(str(certs), ec.generate_private_key(curve))
    code, stderr = await _push_with(relay, certs)
    if works:
        assert code == 0, stderr[-2000:]
        whip = relay.relay.streams["cam"].whip
        assert whip is not None
        # Most of the 30 frames: the muxer closes right after its last one.
        await wait_for(lambda: whip.units_in >= 10, 10.0, "the publisher's frames")
    else:
        assert code != 0 and FFMPEG_DEFAULT_FAILURE in stderr, stderr[-2000:]


def _cli_has_whip() -> bool:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    muxers = subprocess.run(
        [ffmpeg, "-hide_banner", "-muxers"], capture_output=True, text=True, timeout=30
    ).stdout
    return any(line.split()[1:2] == ["whip"] for line in muxers.splitlines())


@pytest.mark.skipif(
    not _cli_has_whip(),
    reason="this ffmpeg CLI has no WHIP muxer (Debian 12's ffmpeg 5.1; WHIP arrived in FFmpeg 8)",
)
async def test_ffmpeg_cli_whip_publishes(start_relay: RelayFactory, tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    from fake_drone import ecdsa_certificate

    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    viewer = relay.viewer("cam", rendition="360p")
    await viewer.start()
    with tempfile.TemporaryDirectory() as folder:
        cert = ecdsa_certificate(folder)
        code, stderr = await _run(
            "ffmpeg",
            "-hide_banner",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-cert_file",
            cert["cert_file"],
            "-key_file",
            cert["key_file"],
            "-authorization",
            relay.token,
            "-f",
            "whip",
            f"{relay.base_url}/whip/cam",
        )
    try:
        assert code == 0, stderr[-2000:]
        stream = relay.relay.streams["cam"]
        assert stream.whip is not None and stream.whip.units_in >= 60
        assert stream.transcoder is not None and stream.transcoder.frames_decoded >= 60
        assert viewer.received.frames >= 60
    finally:
        await viewer.close()
