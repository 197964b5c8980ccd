"""rtmp:// sources: the stream listens (RtmpIngest admits one publisher with the URL's app
and key), FFmpeg's FLV demuxer reads the admitted push (RtmpPushSource)."""

from __future__ import annotations

from urllib.parse import urlsplit

from relay.sources.base import Source
from relay.sources.demux import RtmpPushSource
from relay.sources.rtmp_ingest import RtmpIngest
from relay.sources.scheme import Audit, Scheme, port_binding


class RtmpHost:
    """A stream's RTMP listener: started and closed with the stream; each run of the source
    reads the next publisher it admitted."""

    def __init__(self, stream: str, url: str, audit: Audit | None) -> None:
        self.ingest = RtmpIngest(stream, url, audit)

    def source(self, url: str) -> Source:
        return RtmpPushSource(url, ingest=self.ingest)

    async def start(self) -> None:
        await self.ingest.start()

    async def aclose(self) -> None:
        await self.ingest.aclose()

    def repairs(self) -> dict[str, int]:
        """What the picture joiner repaired for the current (or last) publisher (a Counter:
        a kind not seen counts 0)."""
        return self.ingest.repairs


def _check(url: str) -> str | None:
    if len([p for p in urlsplit(url).path.split("/") if p]) != 2:
        return "RTMP needs /APP/KEY, e.g. rtmp://0.0.0.0:1935/live/drone1"
    return None


SCHEMES = (
    Scheme(
        "rtmp",
        RtmpHost,
        "rtmp://0.0.0.0:1935/live/KEY",
        check=_check,
        needs_host_port=True,
        binds=port_binding("tcp"),
        waits_for_push=True,
    ),
)
