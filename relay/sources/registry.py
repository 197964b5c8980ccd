"""Picks the Source implementation for a URL by its scheme."""

from __future__ import annotations

from relay.errors import SourceError
from relay.sources.base import Source, SourceFactory
from relay.sources.demux import FileSource, RtspSource, UdpTsSource
from relay.sources.sim import SimSource

SOURCES: dict[str, SourceFactory] = {
    "sim": SimSource,
    "rtsp": RtspSource,
    "udp": UdpTsSource,
    "file": FileSource,
    # No "rtmp": an rtmp:// source listens through its stream's RtmpIngest, and no "whip":
    # a whip: stream's source reads the stream's own WhipInbox; for both the Stream hands
    # its supervisor a factory of its own.
}
LISTENING_SCHEMES = frozenset({"rtmp", "udp", "whip"})


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0]


def open_source(url: str) -> Source:
    """A fresh Source for url; raises SourceError for a scheme nobody handles."""
    factory = SOURCES.get(scheme_of(url))
    if factory is None:
        raise SourceError(f"{url}: no source handles this scheme")
    return factory(url)
