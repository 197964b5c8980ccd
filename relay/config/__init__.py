"""The relay's configuration: the schema (model.py, auth.py), read from TOML by load.py."""

from __future__ import annotations

from relay.config.auth import AuthConfig, Grant, Role, TokenConfig, UserConfig
from relay.config.load import load_config, parse_config
from relay.config.model import (
    PASSTHROUGH,
    RUNGS,
    STREAM_NAME,
    Config,
    LimitsConfig,
    RecordingConfig,
    Rung,
    ServerConfig,
    StreamConfig,
    WebRTCConfig,
)

__all__ = [
    "PASSTHROUGH",
    "RUNGS",
    "STREAM_NAME",
    "AuthConfig",
    "Config",
    "Grant",
    "LimitsConfig",
    "RecordingConfig",
    "Role",
    "Rung",
    "ServerConfig",
    "StreamConfig",
    "TokenConfig",
    "UserConfig",
    "WebRTCConfig",
    "load_config",
    "parse_config",
]
