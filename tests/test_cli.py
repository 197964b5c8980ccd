"""The drone-relay command: bad configs exit 2 naming the key; SIGINT/SIGTERM exit 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port


def run_cli(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        input=stdin,
    )


HASH = "scrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo"
TOKEN = 'name = "t"\ntoken = "0123456789abcdef0"\nrole = "viewer"\n'
STREAM = '[[streams]]\nname = "demo"\nsource = "sim://"\n'
RUNG = '[[streams]]\nname = "d"\nsource = "sim://"\nrenditions = [{}]\n'


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[server]\nport = 8080\nprot = 1\n", "server.prot"),
        ("[server]\nport = 99999\n", "server.port: must be at most 65535"),
        ('[server]\nport = "80"\n', "server.port: must be a whole number, got text"),
        ('[[streams]]\nname = "demo"\nsource = "ftp://x"\n', "streams[0].source"),
        ('[[streams]]\nname = "Demo Drone"\nsource = "sim://"\n', "streams[0].name"),
        ('[[streams]]\nname = "d"\nsource = "sim://?size=12x7"\n', "streams[0].source"),
        (
            '[[streams]]\nname = "d"\nsource = "sim://"\nrenditions = ["4k"]\n',
            "streams[0].renditions[0]",
        ),
        ('[[streams]]\nname = "d"\nsource = "rtmp://0.0.0.0:1935/live"\n', "streams[0].source"),
        ('[webrtc]\nice_addresses = ["my-laptop"]\n', "webrtc.ice_addresses[0]"),
        ('[webrtc]\nice_servers = ["stun.example.org"]\n', "webrtc.ice_servers[0]"),
        ('colour = "red"\n', "colour"),
        ("[server\n", "TOML syntax"),
        (RUNG.format('{name = "720p", bitrate = 50}'), "streams[0].renditions[0].bitrate"),
        (RUNG.format('{name = "9k", bitrate = 500000}'), "streams[0].renditions[0].name"),
        (
            RUNG.format('{name = "720p", bitrate = 500000, crf = 23}'),
            "streams[0].renditions[0].crf",
        ),
        (RUNG.format("5"), "streams[0].renditions[0]"),
        (STREAM + f'[[auth.tokens]]\n{TOKEN}streams = ["*"]\nrole2 = 1\n', "auth.tokens[0].role2"),
        (
            STREAM + '[[auth.tokens]]\nname = "t"\ntoken = "0123456789abcdef0"\nrole = "chef"\n'
            'streams = ["*"]\n',
            "auth.tokens[0].role",
        ),
        (STREAM + f"[[auth.tokens]]\n{TOKEN}", "auth.tokens[0].streams"),
        (
            STREAM + f'[[auth.tokens]]\n{TOKEN}streams = ["demo", "fritz"]\n',
            "auth.tokens[0].streams[1]",
        ),
        (
            STREAM + f'[[auth.tokens]]\n{TOKEN}streams = ["*"]\npublish = ["nope"]\n',
            "auth.tokens[0].publish[0]",
        ),
        (
            STREAM
            + '[[auth.tokens]]\nname = "t"\ntoken = "short"\nrole = "viewer"\nstreams = ["*"]\n',
            "auth.tokens[0].token",
        ),
        (
            STREAM + f'[[auth.tokens]]\n{TOKEN}streams = ["*"]\ntoken_sha256 = "{"a" * 64}"\n',
            "auth.tokens[0].token",
        ),
        (
            STREAM + '[[auth.tokens]]\nname = "t"\ntoken_sha256 = "xyz"\nrole = "viewer"\n'
            'streams = ["*"]\n',
            "auth.tokens[0].token_sha256",
        ),
        (
            STREAM + '[[auth.users]]\nname = "u"\npassword_hash = "geheim"\nrole = "viewer"\n'
            'streams = ["*"]\n',
            "auth.users[0].password_hash",
        ),
        (
            STREAM + f'[[auth.tokens]]\n{TOKEN}streams = ["*"]\n[[auth.users]]\nname = "t"\n'
            f'password_hash = "{HASH}"\nrole = "admin"\nstreams = ["*"]\n',
            "auth.users[0].name",
        ),
        (
            STREAM
            + '[[auth.tokens]]\nname = "ELW 1"\ntoken = "0123456789abcdef0"\nrole = "viewer"\n'
            'streams = ["*"]\n',
            "auth.tokens[0].name",
        ),
        (STREAM + "[auth]\nsession_hours = 0\n", "auth.session_hours"),
        (STREAM + "[limits]\nlogin_per_minute = 0\n", "limits.login_per_minute"),
    ],
)
def test_bad_config_exits_2_naming_file_and_key(tmp_path: Path, toml: str, key: str) -> None:
    """`key` is what the message must hold: the key, and for some the reason in plain words."""
    path = tmp_path / "relay.toml"
    path.write_text(toml)
    result = run_cli("serve", "--config", str(path))
    assert result.returncode == 2
    assert key in result.stderr and str(path) in result.stderr, result.stderr
    assert "Expected `" not in result.stderr, result.stderr  # msgspec's words, translated


def test_missing_config_file_and_bad_args_exit_2(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "nope.toml" in result.stderr
    assert run_cli("serve", "--port", "abc").returncode == 2
    assert run_cli("fly").returncode == 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_from_any_directory_and_shut_down_gracefully(
    tmp_path: Path, sig: signal.Signals
) -> None:
    port = free_port()
    # Built-in default config (the demo stream), started outside the repository.
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay", "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    token_file = tmp_path / "data" / "admin-token"  # made at first start (nobody configured)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/streams",
                    headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
                )
                with urllib.request.urlopen(request, timeout=2) as resp:
                    body = resp.read().decode()
                if '"live"' in body:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "relay did not serve a live demo stream"
            time.sleep(0.2)
        assert '"demo"' in body
        assert token_file.stat().st_mode & 0o777 == 0o600
        with pytest.raises(urllib.error.HTTPError) as refused:  # no token, no page
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"}
                ),
                timeout=2,
            )
        assert refused.value.code == 401
        assert b"login-form" in refused.value.read()  # the login form in its place
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert f"http://127.0.0.1:{port}/login?token={token_file.read_text().strip()}" in out
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

    config = parse_config(
        {
            "streams": [
                {
                    "name": "d",
                    "source": "sim://",
                    "renditions": ["source", {"name": "720p", "bitrate": 1_500_000}, "360p"],
                }
            ]
        },
        "<test>",
    )
    stream = config.streams[0]
    assert stream.renditions == ("source", "720p", "360p")
    assert stream.rung("720p").bitrate == 1_500_000
    assert stream.rung("360p").bitrate == 500_000  # the default


def test_hash_password_reads_stdin_never_argv() -> None:
    from relay.auth.passwords import verify_password

    result = run_cli("hash-password", stdin="ein-gutes-passwort\n")
    assert result.returncode == 0, result.stderr
    stored = result.stdout.strip()
    assert stored.startswith("scrypt$") and "ein-gutes" not in stored
    assert verify_password("ein-gutes-passwort", stored)
    assert not verify_password("ein-gutes-passwort!", stored)
    again = run_cli("hash-password", stdin="ein-gutes-passwort\n")
    assert again.stdout.strip() != stored  # a fresh salt every time
    assert run_cli("hash-password", "geheim123").returncode == 2  # never on the command line
    short = run_cli("hash-password", stdin="kurz\n")
    assert short.returncode == 2 and "characters" in short.stderr
