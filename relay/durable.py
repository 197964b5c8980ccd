"""Files that survive a crash or a power cut: every write here is fsync'd before it counts.

One place for what the audit log, the recordings' manifests, snapshots and the auth state
files need: whole writes (os.write may write less than asked), fsync of the file, and for a
replaced file the rename and an fsync of its folder, so a crash leaves the old or the new
file, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_synced(path: Path, data: bytes, flags: int, mode: int) -> None:
    """Opens `path` with `flags` (os.O_WRONLY is added), writes all of `data`, fsyncs."""
    fd = os.open(path, os.O_WRONLY | flags, mode)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_synced(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Appends `data` to `path` (created with `mode`) and fsyncs: one record of a log."""
    write_synced(path, data, os.O_APPEND | os.O_CREAT, mode)


def create_synced(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Writes a new file; FileExistsError if `path` exists (nothing is overwritten)."""
    write_synced(path, data, os.O_CREAT | os.O_EXCL, mode)


def sync_folder(folder: Path) -> None:
    """Makes a rename or a new file in `folder` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_synced(path: Path, data: bytes, mode: int = 0o600, tmp: Path | None = None) -> None:
    """Replaces `path` with `data` atomically: a synced temporary file (`tmp`, default a
    hidden one beside it) renamed over it, then the folder synced."""
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_synced(tmp, data, os.O_CREAT | os.O_TRUNC, mode)
    os.replace(tmp, path)
    sync_folder(path.parent)


def truncate_synced(path: Path, length: int) -> None:
    """Cuts `path` to `length` bytes and fsyncs."""
    with open(path, "r+b") as f:
        f.truncate(length)
        f.flush()
        os.fsync(f.fileno())
