"""The relay's configuration: one strict, typed model read from TOML.

Every error names the key (``streams[1].source``) and the file, so that an operator at an
incident can fix a typo without reading code.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from relay.auth.settings import AuthConfig, parse_auth
from relay.errors import ConfigError
from relay.sources.redact import redact_url

STREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
SOURCE_SCHEMES = ("sim", "rtmp", "rtsp", "udp", "file", "whip")
ICE_SCHEMES = ("stun", "stuns", "turn", "turns")


@dataclass(frozen=True)
class Rung:
    """One built-in rung of the transcode ladder."""

    name: str
    height: int
    bitrate: int  # bit/s

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The rung's frame size for a source of the given size: same aspect, even numbers."""
        out_h = min(self.height, height - height % 2)
        out_w = round(width * out_h / height / 2) * 2
        return max(2, out_w), max(2, out_h)


# Bitrates fit an LTE uplink to the tablets: about 2 Mbit/s at 720p, 0.5 Mbit/s at 360p.
RUNGS: dict[str, Rung] = {
    "1080p": Rung("1080p", 1080, 4_000_000),
    "720p": Rung("720p", 720, 2_000_000),
    "480p": Rung("480p", 480, 1_000_000),
    "360p": Rung("360p", 360, 500_000),
    "240p": Rung("240p", 240, 250_000),  # for the weakest LTE links
}
PASSTHROUGH = "source"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "data"  # audit log, generated secrets; relative to the working directory
    tls_cert: str = ""  # PEM files; both or neither; relative to the working directory
    tls_key: str = ""


@dataclass(frozen=True)
class WebRTCConfig:
    ice_addresses: tuple[str, ...] = ()
    ice_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamConfig:
    name: str
    source: str
    renditions: tuple[str, ...] = ("720p",)
    bitrates: tuple[tuple[str, int], ...] = ()  # per-stream overrides of rung bitrates

    def rung(self, name: str) -> Rung:
        """The built-in rung `name` with this stream's bitrate for it, if it sets one."""
        base = RUNGS[name]
        return Rung(base.name, base.height, dict(self.bitrates).get(name, base.bitrate))


@dataclass(frozen=True)
class RecordingConfig:
    dir: str = "data/recordings"
    retention_days: float = 60.0  # Bavaria: deleted after 2 months at the latest
    sweep_interval_s: float = 3600.0  # how often expired incidents are looked for


@dataclass(frozen=True)
class LimitsConfig:
    max_viewers_per_stream: int = 200
    max_viewers: int = 500
    # Per client address and minute (token buckets). WHEP is generous: a control room's
    # tablets, or a benchmark, join from one address within seconds.
    login_per_minute: int = 5  # failed logins (a successful one does not count)
    whep_per_minute: int = 600
    whip_per_minute: int = 30
    share_per_minute: int = 30  # share-link landings, successful ones too (each is a session)
    # One identity (a token, a user, a share link) cannot fill a stream on its own, and
    # offers that never connect hold a slot for up to 30 s: few per address at a time.
    max_viewers_per_identity: int = 50
    max_unconnected_per_address: int = 32


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    webrtc: WebRTCConfig = field(default_factory=WebRTCConfig)
    streams: tuple[StreamConfig, ...] = ()
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    origin: str = "<built-in default>"

    def stream(self, name: str) -> StreamConfig | None:
        return next((s for s in self.streams if s.name == name), None)


class _Reader:
    """Walks one TOML table, refusing unknown keys and wrong types with the key's path."""

    def __init__(self, table: dict[str, Any], path: str, origin: str) -> None:
        self.table, self.path, self.origin = table, path, origin
        self.seen: set[str] = set()

    def fail(self, key: str, why: str) -> ConfigError:
        where = f"{self.path}.{key}" if self.path else key
        return ConfigError(f"{self.origin}: {where}: {why}", key=where)

    def get(self, key: str, kind: type, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(key, f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    def str_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        values = self.get(key, list, list(default))
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise self.fail(f"{key}[{i}]", f"expected str, got {type(v).__name__}")
        return tuple(values)

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            raise self.fail(unknown[0], "unknown key")

    def sub(self, key: str) -> _Reader:
        return _Reader(
            self.get(key, dict, {}), f"{self.path}.{key}" if self.path else key, self.origin
        )


def _port(r: _Reader, key: str, default: int) -> int:
    port: int = r.get(key, int, default)
    if not 0 <= port <= 65535:
        raise r.fail(key, f"port {port} is outside 0..65535")
    return port


def _ip_list(r: _Reader, key: str) -> tuple[str, ...]:
    values = r.str_list(key, ())
    for i, v in enumerate(values):
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise r.fail(f"{key}[{i}]", f"{v!r} is not an IP address") from None
    return values


def _ice_servers(r: _Reader, key: str) -> tuple[str, ...]:
    values = r.str_list(key, ())
    for i, v in enumerate(values):
        if v.split(":", 1)[0] not in ICE_SCHEMES or ":" not in v:
            raise r.fail(f"{key}[{i}]", f"{v!r} is not a stun:/turn: URL")
    return values


def validate_source(url: str) -> str | None:
    """Returns why a source URL is unusable, or None when it is fine."""
    scheme = url.split(":", 1)[0] if ":" in url else ""
    shown = redact_url(url)  # an error message is printed and logged: no key, no password
    if scheme not in SOURCE_SCHEMES:
        return f"{shown!r}: scheme must be one of {', '.join(s + ':' for s in SOURCE_SCHEMES)}"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 address
        return f"{shown!r}: {exc}"
    if scheme in ("rtmp", "rtsp", "udp"):
        try:
            port = parts.port
        except ValueError:
            return f"{shown!r}: bad port"
        if not parts.hostname or port is None:
            return f"{shown!r}: needs host and port, e.g. {scheme}://0.0.0.0:1935/..."
    if scheme == "rtmp" and len([p for p in parts.path.split("/") if p]) != 2:
        return f"{shown!r}: RTMP needs /APP/KEY, e.g. rtmp://0.0.0.0:1935/live/drone1"
    if scheme == "file" and not url[len("file:") :]:
        return f"{shown!r}: needs a path, e.g. file:clips/flight.mp4"
    if scheme == "sim":
        from relay.sources.sim import SimParams

        try:
            SimParams.from_url(url)
        except ValueError as exc:
            return f"{shown!r}: {exc}"
    return None


def _stream(r: _Reader) -> StreamConfig:
    name: str = r.get("name", str, "")
    if not STREAM_NAME.match(name):
        raise r.fail("name", f"{name!r}: use 1-32 of a-z, 0-9, '-', '_' (starting alphanumeric)")
    source: str = r.get("source", str, "")
    why = validate_source(source)
    if why:
        raise r.fail("source", why)
    renditions, bitrates = _renditions(r)
    if not renditions:
        raise r.fail("renditions", "needs at least one rendition")
    for i, rung in enumerate(renditions):
        if rung != PASSTHROUGH and rung not in RUNGS:
            known = ", ".join([PASSTHROUGH, *RUNGS])
            raise r.fail(f"renditions[{i}]", f"{rung!r} is not one of {known}")
    if len(set(renditions)) != len(renditions):
        raise r.fail("renditions", "names a rendition twice")
    r.done()
    return StreamConfig(name=name, source=source, renditions=renditions, bitrates=bitrates)


def _renditions(r: _Reader) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
    """renditions = ["720p", {name = "360p", bitrate = 400000}, "source"]"""
    entries = r.get("renditions", list, ["720p"])
    names: list[str] = []
    bitrates: list[tuple[str, int]] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            names.append(entry)
            continue
        if not isinstance(entry, dict):
            raise r.fail(f"renditions[{i}]", "expected a rung name or {name, bitrate}")
        sub = _Reader(entry, f"{r.path}.renditions[{i}]", r.origin)
        name = sub.get("name", str, "")
        bitrate = sub.get("bitrate", int, 0)
        sub.done()
        if name not in RUNGS:
            raise sub.fail("name", f"{name!r} is not one of {', '.join(RUNGS)}")
        if not 100_000 <= bitrate <= 20_000_000:
            raise sub.fail("bitrate", "must be within 100000..20000000 bit/s")
        names.append(name)
        bitrates.append((name, bitrate))
    return tuple(names), tuple(bitrates)


def _number(r: _Reader, key: str, default: float, low: float, high: float) -> float:
    value = r.get(key, object, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise r.fail(key, f"must be a number within {low:g}..{high:g}")
    return float(value)


def _recording(r: _Reader) -> RecordingConfig:
    # retention_days may be a fraction: 0.5 keeps recordings twelve hours.
    config = RecordingConfig(
        dir=r.get("dir", str, "data/recordings"),
        retention_days=_number(r, "retention_days", 60, 0, 3650),
        sweep_interval_s=_number(r, "sweep_interval_s", 3600, 0.1, 86400),
    )
    r.done()
    return config


def parse_config(data: dict[str, Any], origin: str) -> Config:
    """Builds a validated Config from parsed TOML; raises ConfigError naming the key."""
    root = _Reader(data, "", origin)
    s = root.sub("server")
    server = ServerConfig(
        host=s.get("host", str, "127.0.0.1"),
        port=_port(s, "port", 8080),
        data_dir=s.get("data_dir", str, "data"),
        tls_cert=s.get("tls_cert", str, ""),
        tls_key=s.get("tls_key", str, ""),
    )
    if bool(server.tls_cert) != bool(server.tls_key):
        missing = "tls_key" if server.tls_cert else "tls_cert"
        raise s.fail(missing, "tls_cert and tls_key go together: set both or neither")
    s.done()
    w = root.sub("webrtc")
    webrtc = WebRTCConfig(
        ice_addresses=_ip_list(w, "ice_addresses"), ice_servers=_ice_servers(w, "ice_servers")
    )
    w.done()
    rec = root.sub("recording")
    recording = _recording(rec)
    lim = root.sub("limits")
    limits = LimitsConfig(
        max_viewers_per_stream=lim.get("max_viewers_per_stream", int, 200),
        max_viewers=lim.get("max_viewers", int, 500),
        login_per_minute=lim.get("login_per_minute", int, 5),
        whep_per_minute=lim.get("whep_per_minute", int, 600),
        whip_per_minute=lim.get("whip_per_minute", int, 30),
        share_per_minute=lim.get("share_per_minute", int, 30),
        max_viewers_per_identity=lim.get("max_viewers_per_identity", int, 50),
        max_unconnected_per_address=lim.get("max_unconnected_per_address", int, 32),
    )
    for key in (
        "max_viewers_per_stream",
        "max_viewers",
        "login_per_minute",
        "whep_per_minute",
        "whip_per_minute",
        "share_per_minute",
        "max_viewers_per_identity",
        "max_unconnected_per_address",
    ):
        if not 1 <= getattr(limits, key) <= 10_000:
            raise lim.fail(key, "must be within 1..10000")
    lim.done()
    tables = root.get("streams", list, [])
    streams = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise root.fail(f"streams[{i}]", "expected a table ([[streams]])")
        streams.append(_stream(_Reader(table, f"streams[{i}]", origin)))
    names = [st.name for st in streams]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise root.fail(f"streams[{i}].name", f"{name!r} is used twice")
    auth = parse_auth(root.sub("auth"), set(names))
    root.done()
    return Config(
        server=server,
        webrtc=webrtc,
        streams=tuple(streams),
        recording=recording,
        limits=limits,
        auth=auth,
        origin=origin,
    )


def load_config(path: str | Path | None) -> Config:
    """Reads a TOML file, or the built-in default (configs/default.toml) when path is None."""
    if path is None:
        text = (resources.files("relay.configs") / "default.toml").read_text("utf-8")
        origin = "<built-in default.toml>"
    else:
        origin = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read: {exc.strerror}", key="") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{origin}: not UTF-8 text", key="") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: TOML syntax: {exc}", key="") from None
    return parse_config(data, origin)
