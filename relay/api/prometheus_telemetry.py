"""The telemetry part of /metrics (relay.api.prometheus): what each stream's hub counted."""

from __future__ import annotations

from typing import Protocol

from relay.stream import Stream


class Families(Protocol):
    """relay.api.prometheus's metric families (declared there once)."""

    def gauge(self, name: str, doc: str, value: float, **labels: str) -> None: ...

    def counter(self, name: str, doc: str, value: float, **labels: str) -> None: ...


def telemetry_metrics(m: Families, stream: Stream) -> None:
    hub = stream.telemetry
    s = stream.name
    for source, count in hub.received.items():
        m.counter(
            "relay_telemetry_samples",
            "telemetry samples received",
            count,
            stream=s,
            source=source,
        )
    for cause, count in hub.bad_input.items():
        m.counter(
            "relay_telemetry_bad_input",
            "telemetry input refused (corrupt packet, JSON outside the schema ...)",
            count,
            stream=s,
            cause=cause,
        )
    m.gauge(
        "relay_telemetry_subscribers", "live telemetry subscribers (SSE)", hub.subscribers, stream=s
    )
    m.counter(
        "relay_telemetry_dropped",
        "samples a subscriber missed (a newer one replaced it before it was sent)",
        hub.dropped,
        stream=s,
    )
    if hub.last is not None:
        m.gauge(
            "relay_telemetry_age_seconds",
            "age of the latest telemetry sample",
            max(0.0, hub.clock() - hub.last.time),
            stream=s,
        )
