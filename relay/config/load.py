"""Reading the config: TOML in, a validated Config out, or a ConfigError that names the file
and the key (``configs/x.toml: streams[0].renditions[0]: '4k' is not one of ...``)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from relay.config.messages import explain
from relay.config.model import Config
from relay.errors import ConfigError

# What to say about a required key beyond "missing".
_HINTS = {"streams": 'list the streams by name, or ["*"] for all'}


def _error(exc: msgspec.ValidationError, origin: str) -> ConfigError:
    """msgspec's message (``Expected `int` <= 65535 - at `$.server.port```) as ours:
    ``origin: server.port: must be at most 65535``."""
    key, why = explain(exc)
    hint = _HINTS.get(key.rsplit(".", 1)[-1]) if why == "missing" else None
    if hint:
        why = f"missing: {hint}"
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
