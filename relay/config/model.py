"""The relay's configuration as a schema: one strict, typed model read from TOML.

Defaults, ranges and rules are declared here once; relay.config.load turns a violation into
a message naming the file and the key (``streams[1].source``), so that an operator at an
incident can fix a typo without reading code.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated

import msgspec

from relay.config.auth import AuthConfig
from relay.config.base import Invalid, Table
from relay.sources.registry import check_url, scheme_for
from relay.telemetry import source as telemetry_source

STREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
ICE_SCHEMES = ("stun", "stuns", "turn", "turns")

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PerMinute = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Viewers = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
# How long a transcoded rung without consumers keeps encoding before it stops: a viewer
# who reloads the page or an Auto viewer that steps back up finds it still running.
IdleSeconds = Annotated[float, msgspec.Meta(ge=0.1, le=86_400)]
RUNG_IDLE_S = 30.0


@dataclass(frozen=True)
class Rung:
    """One built-in rung of the transcode ladder."""

    name: str
    height: int
    bitrate: int  # bit/s
    fps: int = 0  # at most this frame rate (frames are skipped to keep it); 0: the source's

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The rung's frame size for a source of the given size: same aspect, even numbers."""
        out_h = min(self.height, height - height % 2)
        out_w = round(width * out_h / height / 2) * 2
        return max(2, out_w), max(2, out_h)


# Bitrates fit an LTE uplink to the tablets: about 2 Mbit/s at 720p, 0.5 Mbit/s at 360p.
# 240p is for the edge of a cell (300-400 kbit/s, 5 % loss): at 20 fps its 250 kbit/s give
# each frame 1.5x the bits, a link that carries ~40 packets/s still holds a picture, and
# with a few frames lost to the link the picture still moves at >= 15 fps (at 15 fps it
# could not: every lost frame took it below).
RUNGS: dict[str, Rung] = {
    "1080p": Rung("1080p", 1080, 4_000_000),
    "720p": Rung("720p", 720, 2_000_000),
    "480p": Rung("480p", 480, 1_000_000),
    "360p": Rung("360p", 360, 500_000),
    "240p": Rung("240p", 240, 250_000, fps=20),  # for the weakest LTE links
}
PASSTHROUGH = "source"


class ServerConfig(Table, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    data_dir: str = "data"  # audit log, generated secrets; relative to the working directory
    tls_cert: str = ""  # PEM files; both or neither; relative to the working directory
    tls_key: str = ""

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "tls_key" if self.tls_cert else "tls_cert"
            raise Invalid(missing, "tls_cert and tls_key go together: set both or neither")


class WebRTCConfig(Table, frozen=True):
    ice_addresses: tuple[str, ...] = ()  # host candidates to offer; () = all non-loopback
    ice_servers: tuple[str, ...] = ()  # STUN/TURN URLs; () = none: offline LAN

    def __post_init__(self) -> None:
        for i, v in enumerate(self.ice_addresses):
            try:
                ipaddress.ip_address(v)
            except ValueError:
                raise Invalid(f"ice_addresses[{i}]", f"{v!r} is not an IP address") from None
        for i, v in enumerate(self.ice_servers):
            if v.split(":", 1)[0] not in ICE_SCHEMES or ":" not in v:
                raise Invalid(f"ice_servers[{i}]", f"{v!r} is not a stun:/turn: URL")


class RungTable(Table, frozen=True):
    """renditions = [{name = "360p", bitrate = 400000}]: a built-in rung at another bitrate."""

    name: str = ""
    bitrate: int = 0

    def __post_init__(self) -> None:
        if self.name not in RUNGS:
            raise Invalid("name", f"{self.name!r} is not one of {', '.join(RUNGS)}")
        if not 100_000 <= self.bitrate <= 20_000_000:
            raise Invalid("bitrate", "must be within 100000..20000000 bit/s")


class StreamConfig(Table, frozen=True):
    name: str = ""  # a-z 0-9 - _, up to 32
    source: str = ""  # a URL of a registered scheme (relay.sources.registry)
    # ["720p", {name = "360p", bitrate = 400000}, "source"]; read as .renditions (names)
    # and .bitrates (the overrides).
    ladder: tuple[str | RungTable, ...] = msgspec.field(default=("720p",), name="renditions")
    rung_idle_s: IdleSeconds = RUNG_IDLE_S  # a rung nobody watches stops after this long
    # Where the drone's position comes from (relay.telemetry.source): "" none,
    # "mavlink://0.0.0.0:14550", "push" (docs/telemetry.md).
    telemetry: str = ""

    def __post_init__(self) -> None:
        if not STREAM_NAME.match(self.name):
            raise Invalid(
                "name", f"{self.name!r}: use 1-32 of a-z, 0-9, '-', '_' (starting alphanumeric)"
            )
        why = check_url(self.source)
        if why:
            raise Invalid("source", why)
        if self.telemetry and (why := telemetry_source.check_url(self.telemetry)):
            raise Invalid("telemetry", why)
        if not self.ladder:
            raise Invalid("renditions", "needs at least one rendition")
        for i, rung in enumerate(self.renditions):
            if rung != PASSTHROUGH and rung not in RUNGS:
                known = ", ".join([PASSTHROUGH, *RUNGS])
                raise Invalid(f"renditions[{i}]", f"{rung!r} is not one of {known}")
        if len(set(self.renditions)) != len(self.renditions):
            raise Invalid("renditions", "names a rendition twice")

    @property
    def renditions(self) -> tuple[str, ...]:
        return tuple(r if isinstance(r, str) else r.name for r in self.ladder)

    @property
    def bitrates(self) -> tuple[tuple[str, int], ...]:
        """Per-stream overrides of rung bitrates."""
        return tuple((r.name, r.bitrate) for r in self.ladder if isinstance(r, RungTable))

    def rung(self, name: str) -> Rung:
        """The built-in rung `name` with this stream's bitrate for it, if it sets one."""
        base = RUNGS[name]
        return Rung(base.name, base.height, dict(self.bitrates).get(name, base.bitrate), base.fps)


class RecordingConfig(Table, frozen=True):
    dir: str = "data/recordings"
    # Bavaria: deleted after 2 months at the latest; a fraction is fine (0.5: twelve hours).
    retention_days: Annotated[float, msgspec.Meta(ge=0, le=3650)] = 60.0
    # How often expired incidents are looked for.
    sweep_interval_s: Annotated[float, msgspec.Meta(ge=0.1, le=86400)] = 3600.0


class LimitsConfig(Table, frozen=True):
    max_viewers_per_stream: Viewers = 200  # a full relay answers 503 + Retry-After
    max_viewers: Viewers = 500
    # Per client address and minute (token buckets). WHEP is generous: a control room's
    # tablets, or a benchmark, join from one address within seconds.
    login_per_minute: PerMinute = 5  # failed logins (a successful one does not count)
    whep_per_minute: PerMinute = 600
    whip_per_minute: PerMinute = 30
    share_per_minute: PerMinute = 30  # share-link landings, successful ones too (each a session)
    # One identity (a token, a user, a share link) cannot fill a stream on its own, and
    # offers that never connect hold a slot for up to 30 s: few per address at a time.
    max_viewers_per_identity: Viewers = 50
    max_unconnected_per_address: Viewers = 32


class Config(Table, frozen=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    webrtc: WebRTCConfig = msgspec.field(default_factory=WebRTCConfig)
    streams: tuple[StreamConfig, ...] = ()
    recording: RecordingConfig = msgspec.field(default_factory=RecordingConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    origin: str = "<built-in default>"  # the file, for messages; set by load, not a key

    def __post_init__(self) -> None:
        """The rules across tables; each Invalid names the key from the root."""
        names: dict[str, int] = {}
        # One listener per socket: a second stream on a port would never receive (and the
        # HTTP server holds its own TCP port).
        bound: dict[tuple[str, int], str] = {("tcp", self.server.port): "server.port"}
        for i, stream in enumerate(self.streams):
            if stream.name in names:
                raise Invalid(f"streams[{i}].name", f"{stream.name!r} is used twice")
            names[stream.name] = i
            binding = scheme_for(stream.source).binds(stream.source)
            sockets = [("source", (binding.transport, binding.port))] if binding else []
            if stream.telemetry and (telemetry := telemetry_source.binding(stream.telemetry)):
                sockets.append(("telemetry", telemetry))
            for key, socket in sockets:
                if socket[1] == 0:
                    continue
                if socket in bound:
                    raise Invalid(
                        f"streams[{i}].{key}",
                        f"{socket[0]} port {socket[1]} is taken by {bound[socket]}: "
                        "one listener per port",
                    )
                where = f"streams[{i}]" if key == "source" else f"streams[{i}].{key}"
                bound[socket] = f"stream {stream.name!r} ({where})"
        self.auth.check(set(names))

    def stream(self, name: str) -> StreamConfig | None:
        return next((s for s in self.streams if s.name == name), None)
