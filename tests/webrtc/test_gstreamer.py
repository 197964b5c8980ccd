"""GStreamer's webrtcbin (Debian's gstreamer1.0-plugins-bad) against the relay: as a WHEP
viewer and as a WHIP publisher. webrtcbin's DTLS certificate is RSA, so these are the RSA
peers of relay.webrtc.dtls_suites; each test also shows the handshake failing without it.

The peer is tests/gst_peer.py, run with Debian's /usr/bin/python3 (python3-gi) as a
subprocess: the project's venv has no gi. scripts/test installs the packages as root.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiortc.rtcdtlstransport import RTCCertificate

from relay.media.frame_marks import read_marks
from relay.webrtc import dtls_suites
from tests.conftest import RelayFactory, wait_for

SCRIPT = Path(__file__).resolve().parents[1] / "gst_peer.py"
PYTHON = "/usr/bin/python3"
SIM = {"name": "cam", "source": "sim://?size=640x360&fps=30&gop=30", "renditions": ["360p"]}
WHIP = {"name": "cam", "source": "whip:", "renditions": ["360p"]}


def _gstreamer() -> str | None:
    """Why the GStreamer peer cannot run here, or None when it can."""
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
        "from gi.repository import Gst; Gst.init(None);"
        "missing = [e for e in ('webrtcbin', 'nicesrc', 'x264enc', 'avdec_h264', 'rtph264pay')"
        " if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
    )
    try:
        done = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{PYTHON}: {exc}"
    if done.returncode != 0:
        return "python3-gi or gir1.2-gstreamer-1.0 missing: " + done.stderr.strip()[-200:]
    if done.stdout.strip():
        return "GStreamer elements missing: " + done.stdout.strip()
    return None


def host_address() -> str | None:
    """This machine's own non-loopback IPv4 address (its default route's), or None.

    libnice, webrtcbin's ICE agent, never offers loopback candidates, and a relay socket bound
    to 127.0.0.1 cannot answer another address: the relay offers this one instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # a documentation address: nothing is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def _why_skip() -> str | None:
    missing = _gstreamer()
    if missing is not None:
        return (
            f"GStreamer not installed ({missing}); scripts/test installs it as root: "
            "gstreamer1.0-plugins-bad gstreamer1.0-nice gstreamer1.0-plugins-ugly "
            "gstreamer1.0-libav python3-gi gir1.2-gst-plugins-bad-1.0"
        )
    if host_address() is None:
        return "no non-loopback IPv4 address: libnice (webrtcbin's ICE) offers no loopback"
    return None


SKIP = _why_skip()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


async def run_peer(*args: str, timeout: float = 60.0) -> dict[str, Any]:
    """Runs tests/gst_peer.py; its JSON result, with its stderr under "stderr"."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON, str(SCRIPT), *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    stderr = err.decode(errors="replace")
    assert proc.returncode == 0, stderr[-2000:]
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["stderr"] = stderr
    return result


def without_rsa_suites(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiortc's own SSL context again: ECDHE-ECDSA suites only."""
    monkeypatch.setattr(RTCCertificate, "_create_ssl_context", dtls_suites._original)


async def test_webrtcbin_whep_viewer_decodes_the_relays_frames(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], webrtc={"ice_addresses": [host_address()]})
    picture = tmp_path / "last.i420"
    result = await run_peer(
        "whep",
        f"{relay.base_url}/whep/cam?rendition=360p",
        "--token",
        relay.token,
        "--frames",
        "60",
        "--timeout",
        "25",
        "--frame-out",
        str(picture),
    )
    assert result["status"] == 201, result["stderr"][-3000:]
    assert result["frames"] >= 60, result
    assert (result["width"], result["height"]) == (640, 360), result
    # The relay's burned-in marks survive the trip: it is the relay's picture, decoded.
    y_plane = np.frombuffer(picture.read_bytes()[: 640 * 360], np.uint8).reshape(360, 640)
    marks = read_marks(y_plane)
    assert marks is not None and marks[0] > 0, "no frame mark in webrtcbin's last picture"
    await wait_for(lambda: relay.relay.sessions.count() == 0, 10.0, "the viewer's DELETE")


async def test_webrtcbin_whep_viewer_fails_without_the_rsa_suites(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the field saw before relay.webrtc.dtls_suites: 201, then no picture."""
    without_rsa_suites(monkeypatch)
    relay = await start_relay([SIM], webrtc={"ice_addresses": [host_address()]})
    result = await run_peer(
        "whep",
        f"{relay.base_url}/whep/cam?rendition=360p",
        "--token",
        relay.token,
        "--frames",
        "1",
        "--timeout",
        "8",
    )
    assert result["status"] == 201 and result["frames"] == 0, result
    # webrtcbin's dtlsdec: "Could not read from resource. (...) Fatal SSL error"
    assert any("Fatal SSL error" in e for e in result["errors"]), result


def green(viewer: Any) -> bool:
    """The viewer's newest picture is mostly the publisher's pure green."""
    frame = viewer.received.last_frame
    if frame is None:
        return False
    red, grn, blue = frame.to_ndarray(format="rgb24").mean(axis=(0, 1))
    return bool(grn > 150 and red < 90 and blue < 90)


async def publish(relay: Any, profile: str, seconds: float, timeout: float) -> dict[str, Any]:
    """webrtcbin publishes for `seconds` once connected; gives up after `timeout`."""
    return await run_peer(
        "whip",
        f"{relay.base_url}/whip/cam",
        "--token",
        relay.token,
        "--profile",
        profile,
        "--seconds",
        str(seconds),
        "--timeout",
        str(timeout),
    )


@pytest.mark.parametrize("profile", ["main", "high"])
async def test_webrtcbin_whip_publisher_offering_only_main_or_high(
    start_relay: RelayFactory, profile: str
) -> None:
    """webrtcbin + x264enc publishes with its RSA certificate, offering one profile that is
    not Constrained Baseline; the relay decodes it and an aiortc viewer decodes the relay's
    rung: the publisher's green picture, not the relay's slate."""
    relay = await start_relay([WHIP], webrtc={"ice_addresses": [host_address()]})
    viewer = relay.viewer("cam", rendition="360p")
    await viewer.start()
    try:
        push = asyncio.ensure_future(publish(relay, profile, 4, timeout=25))
        await wait_for(
            lambda: viewer.received.frames >= 60 and green(viewer) or push.done(),
            30.0,
            "60 frames from the relay, the last one webrtcbin's green",
        )
        result = await push
        assert result["status"] == 201 and result["frames"] >= 60, result
        stream = relay.relay.streams["cam"]
        assert stream.transcoder is not None and stream.transcoder.frames_decoded >= 60
        assert viewer.received.frames >= 60 and green(viewer), result
    finally:
        await viewer.close()


async def test_webrtcbin_whip_publisher_fails_without_the_rsa_suites(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_rsa_suites(monkeypatch)
    relay = await start_relay([WHIP], webrtc={"ice_addresses": [host_address()]})
    result = await publish(relay, "main", 4, timeout=10)
    assert result["status"] == 201, result
    assert any("Fatal SSL error" in e for e in result["errors"]), result
    stream = relay.relay.streams["cam"]
    assert stream.whip is not None and stream.whip.units_in == 0
