"""The `telemetry` key: checked at load with a message naming the key."""

from __future__ import annotations

import pytest

from relay.config import parse_config
from relay.errors import ConfigError

SIM = "sim://?size=320x240&fps=10&gop=10"


def stream(telemetry: str, name: str = "a", source: str = SIM) -> dict[str, str]:
    return {"name": name, "source": source, "telemetry": telemetry}


@pytest.mark.parametrize(
    ("streams", "message"),
    [
        ([stream("lora://x")], "streams[0].telemetry: 'lora://x': unknown telemetry source"),
        ([stream("mavlink://0.0.0.0:99999")], "streams[0].telemetry: 'mavlink://0.0.0.0:99999'"),
        ([stream("mavlink://0.0.0.0")], "needs host and port"),
        ([stream("push://x")], "write just 'push'"),
        (
            [stream("mavlink://0.0.0.0:14550"), stream("mavlink://0.0.0.0:14550", "b")],
            "streams[1].telemetry: udp port 14550 is taken by stream 'a' (streams[0].telemetry)",
        ),
        (
            [stream("mavlink://0.0.0.0:5000", "b", "udp://0.0.0.0:5000")],
            "streams[0].telemetry: udp port 5000 is taken by stream 'b' (streams[0])",
        ),
    ],
)
def test_bad_telemetry_is_a_config_error(streams: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"streams": streams}, "relay.toml")
    assert message in str(caught.value)


def test_good_telemetry_loads() -> None:
    config = parse_config(
        {"streams": [stream("mavlink://0.0.0.0:14550"), stream("push", "b"), stream("", "c")]},
        "relay.toml",
    )
    assert [s.telemetry for s in config.streams] == ["mavlink://0.0.0.0:14550", "push", ""]


def test_a_password_in_a_refused_url_is_not_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"streams": [stream("amqp://user:geheim99@broker:5672/x")]}, "relay.toml")
    assert "geheim99" not in str(caught.value) and "unknown telemetry source" in str(caught.value)
