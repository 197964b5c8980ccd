"""What a source module declares about its URL scheme, in one place (the registry collects
the declarations, relay.sources.registry): how its URLs are checked, what a stream runs for
it, whether and where it listens, and how its URL is shown in logs and messages.

A scheme's `host` is what the Stream runs for its source: for a pull source (rtsp, file, ...)
just the factory of a fresh Source per run; for a listener, the listening side as well
(rtmp's admission of publishers, whip's inbox), started and closed with the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from relay.sources.base import Source, SourceFactory
from relay.sources.redact import redact_url

Audit = Callable[..., Any]  # AuditLog.append(event, who, where, **details)


class SourceHost(Protocol):
    """What a stream runs for its source; start()/aclose() pair up on the event loop."""

    def source(self, url: str) -> Source:
        """A fresh Source for one run (the supervisor's factory)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def repairs(self) -> dict[str, int]:
        """What it repaired of its publisher's stream, by kind (empty: nothing to say)."""
        ...


class PullHost:
    """A source that needs nothing between runs: each run opens the URL afresh."""

    def __init__(self, factory: SourceFactory) -> None:
        self.source = factory

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def repairs(self) -> dict[str, int]:
        return {}


@dataclass(frozen=True)
class Binding:
    """A socket a source listens on: two sources (or the HTTP server) cannot share one."""

    transport: str  # "tcp" or "udp"
    port: int


def no_binding(url: str) -> Binding | None:
    return None


def fine(url: str) -> str | None:
    return None


def port_binding(transport: str) -> Callable[[str], Binding | None]:
    """The binding of a URL that names the port it listens on (rtmp://0.0.0.0:1935/...)."""

    def binding(url: str) -> Binding | None:
        port = urlsplit(url).port
        return Binding(transport, port) if port is not None else None

    return binding


@dataclass(frozen=True)
class Scheme:
    """One URL scheme of sources. `host(stream, url, audit)` makes what the stream runs."""

    name: str
    host: Callable[[str, str, Audit | None], SourceHost]
    example: str  # a URL shown in messages
    # Why a URL is unusable (a reason; the registry puts the redacted URL before it), or None.
    check: Callable[[str], str | None] = fine
    needs_host_port: bool = False  # the URL must name a host and a port
    binds: Callable[[str], Binding | None] = no_binding  # where it listens, if it does
    waits_for_push: bool = False  # "offline" (not "connecting") until a first push
    # The URL as logs, messages, answers and manifests may show it (relay.sources.redact).
    redact: Callable[[str], str] = redact_url


def pull(name: str, factory: SourceFactory, example: str, **kwargs: Any) -> Scheme:
    """A scheme whose sources pull (or receive) on their own: a fresh Source per run."""
    return Scheme(name, lambda stream, url, audit: PullHost(factory), example, **kwargs)
