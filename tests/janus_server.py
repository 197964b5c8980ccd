"""A real Janus for the tests (scripts/janus_process.py, shared with scripts/bench_janus.py):
skipped where Debian's janus is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from scripts.janus_process import MOUNTPOINT, Janus, JanusMissing, JanusWatcher

__all__ = ["MOUNTPOINT", "Janus", "JanusWatcher", "janus"]


@contextmanager
def janus() -> Iterator[Janus]:
    try:
        server = Janus()
    except JanusMissing as exc:
        pytest.skip(f"{exc} (scripts/test installs it as root)")
    try:
        yield server
    finally:
        server.stop()
