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
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.outputs.whip_cert import self_signed
from tests.conftest import RelayFactory, wait_for

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
        certs = rsa_certificate(Path(tempfile.mkdtemp(dir=tmp_path)))
        code, stderr = await _run(
            sys.executable, "-c", PUSH, f"{relay.base_url}/whip/cam", relay.token, str(certs)
        )
        assert code == 0, stderr[-2000:]
        await viewer.wait_frames(5, timeout=20)
    finally:
        await viewer.close()


async def test_pyav_whip_muxer_default_certificate_fails_and_is_cleaned_up(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """The muxer's own certificate (PyAV 18.1's FFmpeg 8.1: an EC key in a SHA-1-signed
    certificate) still fails its DTLS handshake with aiortc ("A TLS fatal alert has been
    received"; neither the RSA suites nor security level 0 change it; not yet understood).
    The relay drops the half-made publisher."""
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    code, stderr = await _run(sys.executable, "-c", PUSH, f"{relay.base_url}/whip/cam", relay.token)
    assert code != 0 and "DTLS" in stderr, stderr[-2000:]
    await wait_for(
        lambda: not relay.relay.publishers.sessions, 10.0, "the relay to drop the failed publisher"
    )
    assert relay.relay.streams["cam"].whip.publisher is None  # type: ignore[union-attr]


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
