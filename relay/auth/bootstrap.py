"""Secure by default: with nobody configured, the relay makes its own admin token.

The token is stored in ``<data_dir>/admin-token`` (0600) and reused on later starts, so a
bookmarked login URL keeps working; delete the file to get a new one.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from relay.auth.files import write_private

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin-token"
BOOTSTRAP_NAME = "bootstrap-admin"


def read_secret(path: Path, min_len: int) -> str | None:
    """A secret kept in a file, or None when there is none usable; a file others may read
    is tightened to 0600 first (it may have been copied around)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("[auth] %s was readable by others: set to 0600", path)
            os.chmod(path, 0o600)
        value = path.read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    return value if len(value) >= min_len else None


def secret_file(path: Path, min_len: int = 32) -> tuple[str, bool]:
    """The secret in `path`, made (0600) when missing; returns (secret, created)."""
    value = read_secret(path, min_len)
    if value is not None:
        return value, False
    value = secrets.token_urlsafe(32)
    write_private(path, value + "\n")
    return value, True


def admin_token(data_dir: Path) -> tuple[str, bool]:
    """The bootstrap admin token and whether it was made just now."""
    return secret_file(data_dir / ADMIN_TOKEN_FILE)
