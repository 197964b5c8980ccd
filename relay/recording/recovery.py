"""Crash recovery: a segment left open is cut back to its last complete fragment.

A fragmented MP4 is ftyp, moov, then moof+mdat pairs. A crash can only tear the tail: the
fragment being written. Cutting the file after the last complete mdat leaves a valid,
playable file with every frame up to that fragment.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

from relay.durable import truncate_synced

log = logging.getLogger(__name__)


def complete_length(path: Path) -> int:
    """Bytes of `path` that form whole boxes ending with a complete fragment (0: none)."""
    size = path.stat().st_size
    good = 0
    seen_moov = False
    pending_moof = False
    with open(path, "rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            header = f.read(16)
            box_size, kind = struct.unpack(">I4s", header[:8])
            if box_size == 1:
                if len(header) < 16:
                    break
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8 or pos + box_size > size:
                break  # the torn tail
            pos += box_size
            if kind == b"moov":
                seen_moov = True
                good = pos  # a file with no fragment yet: header only
            elif kind == b"moof":
                pending_moof = True
            elif kind == b"mdat" and pending_moof and seen_moov:
                pending_moof = False
                good = pos
            elif kind in (b"ftyp", b"free", b"skip", b"styp", b"sidx", b"mfra"):
                if not pending_moof and seen_moov:
                    good = pos
    return good


def truncate_to_complete(path: Path) -> tuple[int, int]:
    """Cuts a torn tail off; returns (bytes before, bytes after)."""
    before = path.stat().st_size
    keep = complete_length(path)
    if keep < before:
        truncate_synced(path, keep)
        log.warning("[recovery] %s: cut the torn tail (%d -> %d bytes)", path, before, keep)
    return before, keep
