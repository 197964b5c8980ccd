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
from urllib.parse import parse_qsl, urlsplit

import msgspec

from relay.config.auth import AuthConfig
from relay.config.base import Invalid, Table
from relay.config.map import MapConfig
from relay.config.privacy import PrivacyTable
from relay.sources.redact import redact_url
from relay.sources.registry import check_url, scheme_for
from relay.telemetry import osd_line
from relay.telemetry import source as telemetry_source
from relay.threads import CODEC_NICE

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
    privacy: PrivacyTable | None = None  # masks and face anonymisation on this rung's picture

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
# Thermal palettes by name (their colours: relay/transcode/palettes.py, docs/thermal.md).
PALETTES = ("white-hot", "black-hot", "ironbow", "rainbow", "arctic", "lava")
Luma = Annotated[int, msgspec.Meta(ge=0, le=255)]


def check_palette(name: str) -> str | None:
    """Why `name` is no palette, or None."""
    return None if name in PALETTES else f"{name!r} is not one of {', '.join(PALETTES)}"


class ServerConfig(Table, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    data_dir: str = "data"  # audit log, generated secrets; relative to the working directory
    tls_cert: str = ""  # PEM files; both or neither; relative to the working directory
    tls_key: str = ""
    # The brigade's name on the kiosk screen and the wall (a kiosk link may name its own).
    brigade: Annotated[str, msgspec.Meta(max_length=120)] = ""
    # Steps of nice the decoders and encoders run below the event loop (0: alike). On a box
    # full of other work the loop then sends first and the encoders drop frames (README
    # "Who gets a core first").
    codec_nice: Annotated[int, msgspec.Meta(ge=0, le=19)] = CODEC_NICE

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "tls_key" if self.tls_cert else "tls_cert"
            raise Invalid(missing, "tls_cert and tls_key go together: set both or neither")


class WebRTCConfig(Table, frozen=True):
    ice_addresses: tuple[str, ...] = ()  # host candidates to offer; () = all non-loopback
    ice_servers: tuple[str, ...] = ()  # STUN/TURN URLs; () = none: offline LAN
    # TURN credentials for the viewers (relay.webrtc.ice_servers): static ones, or coturn's
    # REST scheme (its static-auth-secret): a credential minted per viewer, valid turn_ttl_s.
    turn_username: str = ""
    turn_password: str = ""
    turn_secret: str = ""
    turn_ttl_s: Annotated[float, msgspec.Meta(ge=60, le=7 * 86_400)] = 43_200.0

    def __post_init__(self) -> None:
        for i, v in enumerate(self.ice_addresses):
            try:
                ipaddress.ip_address(v)
            except ValueError:
                raise Invalid(f"ice_addresses[{i}]", f"{v!r} is not an IP address") from None
        for i, v in enumerate(self.ice_servers):
            if v.split(":", 1)[0] not in ICE_SCHEMES or ":" not in v:
                raise Invalid(f"ice_servers[{i}]", f"{v!r} is not a stun:/turn: URL")
        if self.turn_secret and (self.turn_username or self.turn_password):
            raise Invalid("turn_secret", "set either turn_secret or turn_username/turn_password")
        if bool(self.turn_username) != bool(self.turn_password):
            raise Invalid("turn_password", "turn_username and turn_password go together")
        turn = any(v.split(":", 1)[0] in ("turn", "turns") for v in self.ice_servers)
        if turn and not (self.turn_secret or self.turn_password):
            raise Invalid("ice_servers", "TURN servers need turn_secret or turn_username/password")


class RungTable(Table, frozen=True):
    """renditions = [{name = "360p", bitrate = 400000}]: a built-in rung at another bitrate;
    {name = "360p", palette = "white-hot"}: a thermal stream's rung in its own palette;
    {name = "360p", privacy = {...}}: with privacy processing (relay.config.privacy)."""

    name: str = ""
    bitrate: int = 0  # 0: the built-in rung's
    palette: str = ""  # "": the stream's
    privacy: PrivacyTable | None = None

    def __post_init__(self) -> None:
        if self.name not in RUNGS:
            raise Invalid("name", f"{self.name!r} is not one of {', '.join(RUNGS)}")
        if self.bitrate and not 100_000 <= self.bitrate <= 20_000_000:
            raise Invalid("bitrate", "must be within 100000..20000000 bit/s")
        if not self.bitrate and not self.palette and self.privacy is None:
            raise Invalid("bitrate", "set a bitrate (100000..20000000 bit/s), a palette or privacy")
        why = check_palette(self.palette) if self.palette else None
        if why:
            raise Invalid("palette", why)


class ThermalTable(Table, frozen=True):
    """thermal = {palette = "ironbow", isotherm = 200}: the stream is a thermal camera's
    (white-hot luma); docs/thermal.md."""

    palette: str = "ironbow"
    isotherm: Luma | None = None  # luma at or above it in one colour; absent: off
    hotspot: bool = True  # mark the hottest region

    def __post_init__(self) -> None:
        why = check_palette(self.palette)
        if why:
            raise Invalid("palette", why)


OUTPUT_SCHEMES = ("rtmp", "rtmps", "rtp", "rtsp", "whip+http", "whip+https")


class OutputTable(Table, frozen=True):
    """outputs = [{url = "rtmp://cdn.example/live/KEY", rendition = "720p"}]: a rung handed
    on to another engine (relay.outputs; README "Outputs"). The URL's secrets are redacted
    wherever it is shown."""

    url: str = ""
    rendition: str = ""  # a transcoded rung of the stream; "": its first one
    token: str = ""  # whip+…: the endpoint's Bearer token (a secret: never shown)

    def __post_init__(self) -> None:
        scheme = self.url.split(":", 1)[0].lower()
        if scheme not in OUTPUT_SCHEMES or "://" not in self.url:
            shown = redact_url(self.url)
            raise Invalid("url", f"{shown!r} is not one of {', '.join(OUTPUT_SCHEMES)} (://)")
        try:
            host = urlsplit(self.url).hostname
        except ValueError as exc:
            raise Invalid("url", str(exc)) from None
        if not host:
            raise Invalid("url", f"{redact_url(self.url)!r} names no host")
        if self.token and not scheme.startswith("whip"):
            raise Invalid("token", "only a whip+http(s):// output takes a token")
        if scheme == "rtp":
            self._check_rtp()
        transport = dict(parse_qsl(urlsplit(self.url).query)).get("transport", "tcp")
        if scheme == "rtsp" and transport not in ("tcp", "udp"):
            raise Invalid("url", f"transport={transport!r}: tcp or udp")

    def _check_rtp(self) -> None:
        """rtp://host:port?pt=96: a port for the video (RTCP goes to port + 1), a dynamic
        payload type (96-127)."""
        parts = urlsplit(self.url)
        try:
            port = parts.port
        except ValueError as exc:
            raise Invalid("url", str(exc)) from None
        if not port or port >= 65535:
            raise Invalid("url", "rtp:// needs a port (1-65534: RTCP goes to port + 1)")
        pt = dict(parse_qsl(parts.query)).get("pt", "96")
        if not pt.isdigit() or not 96 <= int(pt) <= 127:
            raise Invalid("url", f"pt={pt!r}: a dynamic payload type is 96-127")


class StreamConfig(Table, frozen=True):
    name: str = ""  # a-z 0-9 - _, up to 32
    source: str = ""  # a URL of a registered scheme (relay.sources.registry)
    # ["720p", {name = "360p", bitrate = 400000}, "source"]; read as .renditions (names)
    # and .bitrates (the overrides).
    ladder: tuple[str | RungTable, ...] = msgspec.field(default=("720p",), name="renditions")
    rung_idle_s: IdleSeconds = RUNG_IDLE_S  # a rung nobody watches stops after this long
    # While no rung runs, decode the reference pictures (about 0.25 cores for a 1080p30
    # drone) so that a viewer's cold start costs one picture, not a GOP (docs/lazy-rungs.md).
    idle_decode: bool = False
    thermal: ThermalTable | None = None  # a thermal camera's stream: palette, hotspot
    outputs: tuple[OutputTable, ...] = ()  # the stream handed on to other engines
    # What share links (the city hall's screen, the press) get: only this rung, which must
    # carry privacy processing. Without one the stream cannot be shared, unless the config
    # says so explicitly (docs/privacy.md).
    public_rendition: str = ""
    shareable_without_privacy: bool = False
    # Where the drone's position comes from (relay.telemetry.source): "" none,
    # "mavlink://0.0.0.0:14550", "push" (docs/telemetry.md).
    telemetry: str = ""
    # Telemetry fields the OSD burns into every rung (relay.telemetry.osd_line), e.g.
    # ["alt_rel_m", "ground_speed_mps", "heading_deg", "lat", "lon"]; needs `telemetry`.
    osd_telemetry: tuple[str, ...] = ()

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
        if self.telemetry == "klv" and self.source.split(":", 1)[0] not in ("udp", "file"):
            raise Invalid("telemetry", "klv comes in an MPEG-TS: a udp:// or file: source")
        if bad := osd_line.check_fields(self.osd_telemetry):
            raise Invalid(f"osd_telemetry{bad[0]}", bad[1])
        if self.osd_telemetry and not self.telemetry:
            raise Invalid("osd_telemetry", "needs a telemetry source (the stream's telemetry key)")
        if not self.ladder:
            raise Invalid("renditions", "needs at least one rendition")
        for i, rung in enumerate(self.renditions):
            if rung != PASSTHROUGH and rung not in RUNGS:
                known = ", ".join([PASSTHROUGH, *RUNGS])
                raise Invalid(f"renditions[{i}]", f"{rung!r} is not one of {known}")
        if len(set(self.renditions)) != len(self.renditions):
            raise Invalid("renditions", "names a rendition twice")
        self._check_thermal()
        self._check_outputs()
        self._check_public()

    def _check_outputs(self) -> None:
        """An output carries a transcoded rung: its timestamps and keyframes are the relay's
        (the drone's own packets may have B-frames and keyframes only every few seconds)."""
        transcoded = [name for name in self.renditions if name != PASSTHROUGH]
        for i, output in enumerate(self.outputs):
            if output.rendition and output.rendition not in transcoded:
                why = f"{output.rendition!r} is not one of this stream's transcoded rungs"
                raise Invalid(f"outputs[{i}].rendition", f"{why} ({', '.join(transcoded)})")
            if not transcoded:
                raise Invalid(f"outputs[{i}]", "an output needs a transcoded rung (720p, …)")

    def _check_thermal(self) -> None:
        """A palette needs a transcoded rung to be drawn on: passthrough is the drone's own."""
        if self.thermal is None:
            for i, rung in enumerate(self.ladder):
                if isinstance(rung, RungTable) and rung.palette:
                    raise Invalid(f"renditions[{i}].palette", "only a thermal stream has palettes")
        elif all(name == PASSTHROUGH for name in self.renditions):
            raise Invalid("thermal", "a thermal stream needs a transcoded rendition (720p, …)")

    def _check_public(self) -> None:
        """The rung share links get must carry privacy processing (docs/privacy.md)."""
        if self.public_rendition:
            if self.public_rendition not in self.renditions:
                raise Invalid(
                    "public_rendition",
                    f"{self.public_rendition!r} is not a rendition of this stream "
                    f"(it has {', '.join(self.renditions)})",
                )
            if self.privacy(self.public_rendition) is None:
                raise Invalid(
                    "public_rendition",
                    f"{self.public_rendition!r} has no privacy processing: give that rung "
                    "privacy = {masks = [...]} or faces, or name one that has",
                )

    @property
    def renditions(self) -> tuple[str, ...]:
        return tuple(r if isinstance(r, str) else r.name for r in self.ladder)

    @property
    def bitrates(self) -> tuple[tuple[str, int], ...]:
        """Per-stream overrides of rung bitrates."""
        return tuple(
            (r.name, r.bitrate) for r in self.ladder if isinstance(r, RungTable) and r.bitrate
        )

    @property
    def palettes(self) -> dict[str, str]:
        """Thermal rungs with a palette of their own (rung -> palette)."""
        return {r.name: r.palette for r in self.ladder if isinstance(r, RungTable) and r.palette}

    def privacy(self, name: str) -> PrivacyTable | None:
        """The privacy processing of rung `name`, if it has any."""
        found = (r for r in self.ladder if isinstance(r, RungTable) and r.name == name)
        return next((r.privacy for r in found), None)

    def rung(self, name: str) -> Rung:
        """The built-in rung `name` with this stream's bitrate and privacy for it."""
        base = RUNGS[name]
        bitrate = dict(self.bitrates).get(name, base.bitrate)
        return Rung(base.name, base.height, bitrate, base.fps, self.privacy(name))


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
    map: MapConfig = msgspec.field(default_factory=MapConfig)  # the map page's tiles
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
