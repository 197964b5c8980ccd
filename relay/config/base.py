"""The schema library's footing for every config table (msgspec, see pyproject.toml):
unknown keys are refused, types are strict (no "80" for 80, no true for 1), and a check
that fails raises Invalid naming its key, so relay.config.load can say where it failed."""

from __future__ import annotations

import msgspec


class Table(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One TOML table of the config."""


class Invalid(ValueError):
    """A value that the type alone does not refuse; `key` is relative to the table that
    raises it (``port``, ``renditions[0]``) or, from the root, the whole path."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(why)
        self.key, self.why = key, why
