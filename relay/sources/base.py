"""The Source interface and the registry that picks an implementation by URL scheme."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from relay.media.access_unit import AccessUnit

Emit = Callable[[AccessUnit], None]


class Source(Protocol):
    """Delivers one stream's access units; run() blocks in a worker thread.

    run() returns when the source ends, raises SourceError (or any error) when it fails,
    and returns soon after `stop` is set. Restarting is the supervisor's job, not the source's.
    """

    url: str

    def run(self, emit: Emit, stop: threading.Event) -> None: ...


SourceFactory = Callable[[str], Source]
