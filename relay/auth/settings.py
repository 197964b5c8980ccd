"""The [auth] config (tokens, users, roles) is part of the config's schema:
relay.config.auth. Re-exported here for the auth service's readers."""

from __future__ import annotations

from relay.config.auth import (
    MIN_TOKEN,
    PRINCIPAL_NAME,
    ROLE_LABELS,
    AuthConfig,
    Grant,
    TokenConfig,
    UserConfig,
)

__all__ = [
    "MIN_TOKEN",
    "PRINCIPAL_NAME",
    "ROLE_LABELS",
    "AuthConfig",
    "Grant",
    "TokenConfig",
    "UserConfig",
]
