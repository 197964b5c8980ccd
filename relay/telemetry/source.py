"""Telemetry sources: the interface every one keeps, and the registry of URL schemes.

A stream names at most one source (config key `telemetry`): `mavlink://0.0.0.0:14550`,
`push`, and the schemes other modules add. Adding a scheme is one entry in SCHEMES; its
module is imported only when a stream uses it (pymavlink, an MQTT client: nobody pays for a
source they do not run). An unknown scheme or a bad port is a config error (check_url).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from relay.sources.redact import redact_url
from relay.telemetry.hub import TelemetryHub


class TelemetrySource(Protocol):
    """Runs until cancelled. Never raises on bad input: counts it with hub.bad(cause). A
    source with a connection (a broker) reconnects with backoff by itself."""

    async def run(self, hub: TelemetryHub) -> None: ...


@dataclass(frozen=True)
class TelemetryScheme:
    name: str
    factory: str  # "module:function", called with the URL, returning a TelemetrySource
    example: str  # shown in config errors
    needs_host_port: bool = False
    transport: str = ""  # "udp"/"tcp" when it listens on the port (the config checks clashes)
    check: Callable[[str], str | None] | None = None  # further checks of the URL


SCHEMES: dict[str, TelemetryScheme] = {
    s.name: s
    for s in (
        TelemetryScheme(
            "mavlink",
            "relay.telemetry.mavlink:from_url",
            "mavlink://0.0.0.0:14550",
            needs_host_port=True,
            transport="udp",
        ),
        TelemetryScheme("push", "relay.telemetry.push:from_url", "push"),
        TelemetryScheme("klv", "relay.telemetry.klv_source:from_url", "klv"),
        TelemetryScheme(
            "mqtt",
            "relay.telemetry.dji_mqtt:DjiMqttSource",
            "mqtt://broker:1883/thing/product/SN/osd",
            needs_host_port=True,
            check=lambda url: _dji_topic(url),
        ),
    )
}


def _dji_topic(url: str) -> str | None:
    """DJI Cloud API's OSD topic (relay.telemetry.dji_mqtt): thing/product/{sn}/osd."""
    from relay.telemetry.dji_mqtt import TOPIC

    if not TOPIC.match(urlsplit(url).path.lstrip("/")):
        return f"{redact_url(url)[:64]!r}: the topic must be thing/product/{{sn}}/osd"
    return None


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0]


def check_url(url: str) -> str | None:
    """Why a telemetry URL is unusable, or None when it is fine (the config asks this). The
    URL is shown redacted: a broker's password must not reach a log or a terminal."""
    # redact_url shows no more than the scheme of a URL it cannot parse (a bad port), so a
    # URL without user info or query (nothing secret in it) is shown as written.
    shown = (redact_url(url) if "@" in url or "?" in url else url)[:64]
    scheme = SCHEMES.get(scheme_of(url))
    if scheme is None:
        known = ", ".join(s.example for s in SCHEMES.values())
        return f"{shown!r}: unknown telemetry source; use one of {known}"
    if not scheme.needs_host_port:
        if scheme.check is None and url != scheme.name:
            return f"{shown!r}: write just {scheme.name!r}"
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return f"{shown!r}: bad port (1..65535), e.g. {scheme.example}"
        if not parts.hostname or not port:
            return f"{shown!r}: needs host and port (1..65535), e.g. {scheme.example}"
    return scheme.check(url) if scheme.check is not None else None


def binding(url: str) -> tuple[str, int] | None:
    """(transport, port) a (checked) URL listens on, or None."""
    scheme = SCHEMES.get(scheme_of(url))
    if scheme is None or not scheme.transport:
        return None
    port = urlsplit(url).port
    return (scheme.transport, port) if port else None


def source_for(url: str) -> TelemetrySource:
    """A new source for a (checked) telemetry URL."""
    module, _, function = SCHEMES[scheme_of(url)].factory.partition(":")
    make: Callable[[str], TelemetrySource] = getattr(importlib.import_module(module), function)
    return make(url)
