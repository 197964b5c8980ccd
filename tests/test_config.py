"""The config's schema: rules across tables, and messages that name the file and the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from relay.config import parse_config
from relay.errors import ConfigError
from tests.test_cli import HASH, run_cli

SIM_A = '[[streams]]\nname = "a"\nsource = "sim://"\n'
RTMP_A = '[[streams]]\nname = "a"\nsource = "rtmp://0.0.0.0:1935/live/a"\n'


def error_of(toml: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(toml), "relay.toml")
    return caught.value


@pytest.mark.parametrize(
    ("toml", "key", "reason"),
    [
        # One listener per port: the second stream would never receive.
        (
            RTMP_A + '[[streams]]\nname = "b"\nsource = "rtmp://127.0.0.1:1935/live/b"\n',
            "streams[1].source",
            "tcp port 1935 is taken by stream 'a' (streams[0])",
        ),
        (
            "[server]\nport = 1935\n" + RTMP_A,
            "streams[0].source",
            "tcp port 1935 is taken by server.port",
        ),
        (
            '[[streams]]\nname = "u"\nsource = "udp://0.0.0.0:5000"\n'
            '[[streams]]\nname = "v"\nsource = "udp://0.0.0.0:5000"\n',
            "streams[1].source",
            "udp port 5000 is taken",
        ),
        (
            '[[streams]]\nname = "a"\nsource = "sim://"\n'
            '[[auth.users]]\nname = "u"\nrole = "viewer"\nstreams = ["*"]\npublish = ["b"]\n'
            f'password_hash = "{HASH}"\n',
            "auth.users[0].publish[0]",
            "'b' is not a configured stream",
        ),
        (
            "[recording]\nretention_days = true\n",
            "recording.retention_days",
            "must be a number, got true or false",
        ),
        ("[limits]\nmax_viewers = 10001\n", "limits.max_viewers", "must be at most 10000"),
        # Lazy rungs: how long a rung nobody watches keeps encoding.
        (SIM_A + "rung_idle_s = 0\n", "streams[0].rung_idle_s", "must be at least 0.1"),
        (SIM_A + 'rung_idle_s = "30s"\n', "streams[0].rung_idle_s", "must be a number"),
        (SIM_A + "rung_idle_s = 86401\n", "streams[0].rung_idle_s", "must be at most 86400"),
        (SIM_A + "rung_idle = 30\n", "streams[0].rung_idle", "unknown key"),
        ('[server]\nport = 8080\norigin = "x"\n', "server.origin", "unknown key"),
        ('origin = "x"\n', "origin", "unknown key"),
        # TURN: viewers need a credential, from one source only.
        (
            '[webrtc]\nice_servers = ["turn:10.0.0.1:3478"]\n',
            "webrtc.ice_servers",
            "TURN servers need turn_secret or turn_username/password",
        ),
        (
            '[webrtc]\nturn_secret = "s"\nturn_username = "u"\nturn_password = "p"\n',
            "webrtc.turn_secret",
            "set either turn_secret or turn_username/turn_password",
        ),
        ('[webrtc]\nturn_username = "u"\n', "webrtc.turn_password", "go together"),
        ("[webrtc]\nturn_ttl_s = 10\n", "webrtc.turn_ttl_s", "must be at least 60"),
        # Outputs: a scheme the relay speaks, a host, a transcoded rung; no key in the message.
        (
            SIM_A + '[[streams.outputs]]\nurl = "http://cdn/live/k3y"\n',
            "streams[0].outputs[0].url",
            "is not one of rtmp, rtmps, rtp, rtsp, whip+http, whip+https",
        ),
        (
            SIM_A + '[[streams.outputs]]\nurl = "rtmp:///live/k3y"\n',
            "streams[0].outputs[0].url",
            "'rtmp:///live/***' names no host",
        ),
        (
            SIM_A + 'renditions = ["source"]\n[[streams.outputs]]\nurl = "rtmp://cdn/live/k"\n',
            "streams[0].outputs[0]",
            "an output needs a transcoded rung",
        ),
        (
            SIM_A + '[[streams.outputs]]\nurl = "rtp://10.0.0.8?pt=96"\n',
            "streams[0].outputs[0].url",
            "rtp:// needs a port",
        ),
        (
            SIM_A + '[[streams.outputs]]\nurl = "rtp://10.0.0.8:5004?pt=8"\n',
            "streams[0].outputs[0].url",
            "a dynamic payload type is 96-127",
        ),
        (
            SIM_A + '[[streams.outputs]]\nurl = "rtmp://cdn/live/k"\ntoken = "t0ken"\n',
            "streams[0].outputs[0].token",
            "only a whip+http(s):// output takes a token",
        ),
        (
            '[[streams]]\nname = "a"\nsource = "rtmp://0.0.0.0:1935/live/a"\ntelemetry = "klv"\n',
            "streams[0].telemetry",
            "klv comes in an MPEG-TS",
        ),
        ("[server]\ncodec_nice = 20\n", "server.codec_nice", "must be at most 19"),
        ("[server]\ncodec_nice = -1\n", "server.codec_nice", "must be at least 0"),
    ],
)
def test_rules_name_the_key_and_the_reason(toml: str, key: str, reason: str) -> None:
    error = error_of(toml)
    assert error.key == key, str(error)
    assert str(error).startswith(f"relay.toml: {key}: ") and reason in str(error), str(error)


def test_a_tcp_and_a_udp_listener_may_share_a_port_number() -> None:
    config = parse_config(
        tomllib.loads(RTMP_A + '[[streams]]\nname = "u"\nsource = "udp://0.0.0.0:1935"\n'), "t"
    )
    assert [s.name for s in config.streams] == ["a", "u"]


def test_defaults_are_those_of_the_readme() -> None:
    config = parse_config({}, "<test>")
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert config.limits.max_viewers_per_stream == 200 and config.limits.max_viewers == 500
    assert config.recording.retention_days == 60.0 and config.auth.session_hours == 12.0
    assert config.origin == "<test>" and config.streams == ()
    assert config.server.codec_nice == 0
    stream = parse_config(tomllib.loads(SIM_A), "<test>").streams[0]
    assert stream.rung_idle_s == 30.0


def test_a_bad_rung_idle_time_stops_the_relay_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(SIM_A + "rung_idle_s = -1\n")
    result = run_cli("serve", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: streams[0].rung_idle_s: must be at least 0.1" in result.stderr, result.stderr


def test_port_option_keeps_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(RTMP_A)
    result = run_cli("serve", "--config", str(path), "--port", "1935")
    assert result.returncode == 2
    assert "--port 1935: tcp port 1935 is taken by server.port" in result.stderr, result.stderr


def test_two_rtmp_streams_on_one_port_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(RTMP_A + '[[streams]]\nname = "b"\nsource = "rtmp://0.0.0.0:1935/live/b"\n')
    result = run_cli("serve", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: streams[1].source: tcp port 1935" in result.stderr, result.stderr
