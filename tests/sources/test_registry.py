"""One registration per scheme: what each source module declares, as the registry reports it."""

from __future__ import annotations

import pytest

from relay.errors import SourceError
from relay.sources.registry import check_url, open_source, redact, scheme_for, schemes
from relay.sources.scheme import Binding


def test_every_scheme_of_the_readme_is_declared_once() -> None:
    assert sorted(schemes()) == ["file", "rtmp", "rtsp", "sim", "udp", "whip"]


@pytest.mark.parametrize(
    ("url", "binding", "waits"),
    [
        ("rtmp://0.0.0.0:1935/live/key", Binding("tcp", 1935), True),
        ("udp://0.0.0.0:5000", Binding("udp", 5000), True),
        ("whip:", None, True),  # publishers come through the HTTP server
        ("rtsp://cam:8554/live", None, False),
        ("sim://", None, False),
        ("file:x.mp4", None, False),
    ],
)
def test_listeners_say_where(url: str, binding: Binding | None, waits: bool) -> None:
    scheme = scheme_for(url)
    assert scheme.binds(url) == binding and scheme.waits_for_push is waits


def test_secrets_stay_out_of_shown_urls() -> None:
    assert redact("rtmp://0.0.0.0:1935/live/s3cret") == "rtmp://0.0.0.0:1935/live/***"
    assert redact("rtsp://pilot:s3cret@10.0.0.2:8554/live") == "rtsp://***@10.0.0.2:8554/live"
    assert redact("sim://?fps=30") == "sim://?fps=30"


def test_checks_come_from_the_scheme() -> None:
    assert check_url("sim://?fps=30") is None
    assert "needs host and port" in (check_url("udp://0.0.0.0") or "")
    assert "RTMP needs /APP/KEY" in (check_url("rtmp://0.0.0.0:1935/live") or "")
    assert "scheme must be one of" in (check_url("ftp://x") or "")
    # A refused URL is shown without its secrets (the message is printed and logged).
    assert check_url("rtmp://0.0.0.0:1935/s3cret") == (
        "'rtmp://0.0.0.0:1935/***': RTMP needs /APP/KEY, e.g. rtmp://0.0.0.0:1935/live/drone1"
    )
    assert "Invalid IPv6 URL" in (check_url("rtmp://[::1:1935/live/k") or "")
    with pytest.raises(SourceError):
        open_source("ftp://x")
