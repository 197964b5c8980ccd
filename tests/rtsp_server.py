"""A real RTSP server for the tests: Debian's rtsp-server-perl, which takes a source's
ANNOUNCE/RECORD on one port and serves clients on another."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.conftest import free_port


@dataclass
class RtspServer:
    client_port: int  # where players (and the relay's rtsp:// source) read
    source_port: int  # where a publisher (ffmpeg, the relay's rtsp:// output) records


@contextlib.asynccontextmanager
async def rtsp_server() -> AsyncIterator[RtspServer]:
    if not (shutil.which("rtsp-server-perl") and shutil.which("ffmpeg")):
        pytest.skip("rtsp-server-perl or ffmpeg missing (scripts/test installs them as root)")
    ports = RtspServer(free_port(), free_port())
    rtp_port = 20000 + 2 * (free_port(socket.SOCK_DGRAM) % 20000 // 2)
    server = subprocess.Popen(
        [
            "rtsp-server-perl",
            "-c",
            str(ports.client_port),
            "-s",
            str(ports.source_port),
            "--client_listen_address",
            "127.0.0.1",
            "--source_listen_address",
            "127.0.0.1",
            "--rtp_start_port",
            str(rtp_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until the server listens for its source
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", ports.source_port)) == 0:
                    break
            assert time.monotonic() < deadline, "rtsp-server-perl did not start"
            await asyncio.sleep(0.1)
        yield ports
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
