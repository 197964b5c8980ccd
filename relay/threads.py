"""Names worker threads for the operating system too, so `top -H` and /proc show which
stream and stage a busy thread belongs to (Python's thread names stay inside Python)."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

_PR_SET_NAME = 15
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
except OSError:  # not glibc/Linux: names stay Python-only
    _libc = None


def name_native_thread(name: str | None = None) -> None:
    """Gives the calling thread its Python name (or `name`) in /proc (15 bytes at most)."""
    label = (name or threading.current_thread().name).encode()[:15]
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(label), 0, 0, 0)
