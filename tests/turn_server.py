"""A real TURN server for the tests: Debian's coturn (`turnserver`) as a subprocess."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import free_port


@contextlib.contextmanager
def turn_server(secret: str) -> Iterator[int]:
    """Debian's coturn on a free port (UDP and TCP) with the REST scheme's shared secret,
    relaying on loopback; yields its port. Skips the test if coturn is not installed."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.skip("coturn (turnserver) is not installed: scripts/test installs it as root")
    port = free_port()
    low = free_port(socket.SOCK_DGRAM)  # relay ports from a free UDP port on
    proc = subprocess.Popen(
        [
            binary,
            "-n",  # no config file
            "--listening-ip=127.0.0.1",
            f"--listening-port={port}",
            "--relay-ip=127.0.0.1",
            f"--min-port={low}",
            f"--max-port={min(low + 50, 65535)}",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=drone-relay.test",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
            "--log-file=stdout",
            "--simple-log",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # listening once a TCP connect succeeds
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("coturn did not start listening")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
