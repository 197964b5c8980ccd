"""The drone-relay command: bad configs exit 2 naming the key; SIGINT/SIGTERM exit 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


@pytest.mark.parametrize(("toml", "key"), [
    ("[server]\nport = 8080\nprot = 1\n", "server.prot"),
    ("[server]\nport = 99999\n", "server.port"),
    ("[server]\nport = \"80\"\n", "server.port"),
    ("[[streams]]\nname = \"demo\"\nsource = \"ftp://x\"\n", "streams[0].source"),
    ("[[streams]]\nname = \"Demo Drone\"\nsource = \"sim://\"\n", "streams[0].name"),
    ("[[streams]]\nname = \"d\"\nsource = \"sim://?size=12x7\"\n", "streams[0].source"),
    ("[[streams]]\nname = \"d\"\nsource = \"sim://\"\nrenditions = [\"4k\"]\n",
     "streams[0].renditions[0]"),
    ("[[streams]]\nname = \"d\"\nsource = \"rtmp://0.0.0.0:1935/live\"\n", "streams[0].source"),
    ("[webrtc]\nice_addresses = [\"my-laptop\"]\n", "webrtc.ice_addresses[0]"),
    ("[webrtc]\nice_servers = [\"stun.example.org\"]\n", "webrtc.ice_servers[0]"),
    ("colour = \"red\"\n", "colour"),
    ("[server\n", "TOML syntax"),
])
def test_bad_config_exits_2_naming_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(toml)
    result = run_cli("serve", "--config", str(path))
    assert result.returncode == 2
    assert key in result.stderr and str(path) in result.stderr, result.stderr


def test_missing_config_file_and_bad_args_exit_2(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "nope.toml" in result.stderr
    assert run_cli("serve", "--port", "abc").returncode == 2
    assert run_cli("fly").returncode == 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_from_any_directory_and_shut_down_gracefully(tmp_path: Path,
                                                           sig: signal.Signals) -> None:
    port = free_port()
    # Built-in default config (the demo stream), started outside the repository.
    proc = subprocess.Popen([sys.executable, "-m", "relay", "serve", "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/streams",
                                            timeout=2) as resp:
                    body = resp.read().decode()
                if '"live"' in body:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "relay did not serve a live demo stream"
            time.sleep(0.2)
        assert '"demo"' in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
            assert b"<html" in resp.read().lower()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert f"http://127.0.0.1:{port}/" in out
        assert "terminate called" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The listening socket was released: a new server can bind the port (SO_REUSEADDR only
    # tolerates TIME_WAIT connections, never a live listener).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_rung_bitrates_can_be_set_per_stream() -> None:
    from relay.config import parse_config

    config = parse_config({"streams": [{"name": "d", "source": "sim://", "renditions": [
        "source", {"name": "720p", "bitrate": 1_500_000}, "360p"]}]}, "<test>")
    stream = config.streams[0]
    assert stream.renditions == ("source", "720p", "360p")
    assert stream.rung("720p").bitrate == 1_500_000
    assert stream.rung("360p").bitrate == 500_000  # the default


@pytest.mark.parametrize(("entry", "key"), [
    ('{name = "720p", bitrate = 50}', "streams[0].renditions[0].bitrate"),
    ('{name = "9k", bitrate = 500000}', "streams[0].renditions[0].name"),
    ('{name = "720p", bitrate = 500000, crf = 23}', "streams[0].renditions[0].crf"),
    ('5', "streams[0].renditions[0]"),
])
def test_bad_rung_tables_exit_2(tmp_path: Path, entry: str, key: str) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(f'[[streams]]\nname = "d"\nsource = "sim://"\nrenditions = [{entry}]\n')
    result = run_cli("serve", "--config", str(path))
    assert result.returncode == 2 and key in result.stderr, result.stderr
