"""Errors the relay reports to people: config mistakes and refused requests."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration value is unusable; the message names the key and the file."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


class SourceError(Exception):
    """A source cannot deliver (connection refused, stream ended, broken data)."""
