"""Reading the config: TOML in, a validated Config out, or a ConfigError that names the file
and the key (``configs/x.toml: streams[0].renditions[0]: '4k' is not one of ...``)."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from relay.config.base import Invalid
from relay.config.model import Config
from relay.errors import ConfigError

_AT = re.compile(r"^(?P<why>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]*)`$")
# What to say about a required key beyond "missing".
_HINTS = {"streams": 'list the streams by name, or ["*"] for all'}


def _join(path: str, key: str) -> str:
    path = path.lstrip(".")
    if not key:
        return path
    if not path:
        return key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def _error(exc: msgspec.ValidationError, origin: str) -> ConfigError:
    """msgspec's message (``Expected `int`, got `str` - at `$.server.port```) as ours."""
    match = _AT.match(str(exc))
    why, path = (match["why"], match["path"] or "") if match else (str(exc), "")
    cause = exc.__cause__
    if isinstance(cause, Invalid):
        key, why = _join(path, cause.key), cause.why
    elif unknown := _UNKNOWN.match(why):
        key, why = _join(path, unknown["key"]), "unknown key"
    elif missing := _MISSING.match(why):
        hint = _HINTS.get(missing["key"])
        key, why = _join(path, missing["key"]), f"missing: {hint}" if hint else "missing"
    else:
        key = _join(path, "")
    return ConfigError(f"{origin}: {key}: {why}" if key else f"{origin}: {why}", key=key)


def parse_config(data: dict[str, Any], origin: str) -> Config:
    """Builds a validated Config from parsed TOML; raises ConfigError naming the key."""
    if "origin" in data:  # a field of the model, but no key of the file
        raise ConfigError(f"{origin}: origin: unknown key", key="origin")
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise _error(exc, origin) from None
    return msgspec.structs.replace(config, origin=origin)


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
