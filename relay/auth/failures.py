"""Failed logins in the audit log, aggregated per address and method.

A wrong password is one line each (the rate limit keeps that to a few a minute, and the
name tried matters). A flood of bad share links, wrong Bearer tokens or login URLs, and
every request refused by the rate limit, would otherwise be one fsync'd line each and push
the real events out of the audit views (they read the last few thousand lines). So per
address and method the first failure of a minute is written at once, and the rest of that
minute as one line with counts when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from relay.audit import AuditLog

log = logging.getLogger(__name__)

WINDOW_S = 60.0
MAX_OPEN = 1024  # addresses x methods with an open minute; more: the oldest is written now
EACH_LINE = frozenset({"password"})  # methods audited line by line


@dataclass
class _Minute:
    failed: int = 0  # failures after the first one
    throttled: int = 0  # requests the rate limit refused
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class FailedLogins:
    """Writes login_failed lines for the auth middleware and the login routes."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit
        self._open: dict[tuple[str, str], _Minute] = {}

    def failed(self, method: str, where: str, reason: str, who: str = "?") -> None:
        """One failed attempt (`reason` says why, for the first of its minute)."""
        if method in EACH_LINE:
            self._audit.append("login_failed", who, where, method=method, reason=reason)
            return
        minute = self._open.get((where, method))
        if minute is None:
            self._audit.append("login_failed", who, where, method=method, reason=reason)
            self._start(where, method)
        else:
            minute.failed += 1

    def throttled(self, method: str, where: str) -> None:
        """A request refused by the rate limit (429): counted, never a line of its own."""
        minute = self._open.get((where, method)) or self._start(where, method)
        minute.throttled += 1

    def flush(self) -> None:
        """Writes every open minute now (at shutdown, and for tests)."""
        for key in list(self._open):
            self._close(key)

    def _start(self, where: str, method: str) -> _Minute:
        if len(self._open) >= MAX_OPEN:
            self._close(next(iter(self._open)))
        minute = _Minute()
        key = (where, method)
        self._open[key] = minute
        try:
            minute.timer = asyncio.get_running_loop().call_later(WINDOW_S, self._close, key)
        except RuntimeError:  # no loop (a synchronous caller): written at the next flush
            pass
        return minute

    def _close(self, key: tuple[str, str]) -> None:
        minute = self._open.pop(key, None)
        if minute is None:
            return
        if minute.timer is not None:
            minute.timer.cancel()
        if minute.failed or minute.throttled:
            where, method = key
            self._audit.append(
                "login_failed",
                "?",
                where,
                method=method,
                repeated=minute.failed,
                throttled=minute.throttled,
                window_s=WINDOW_S,
            )
