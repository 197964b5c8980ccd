"""Small private files in the data folder: secrets and state, written 0600 and atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relay.durable import replace_synced


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` (mode 0600, folder 0700 when created) via a rename, so a
    crash leaves the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    replace_synced(path, text.encode("utf-8"), 0o600)


def read_json(path: Path, default: Any) -> Any:
    """The JSON in `path`, or `default` when missing or unreadable."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return default


def write_json(path: Path, data: Any) -> None:
    write_private(path, json.dumps(data, separators=(",", ":")))
