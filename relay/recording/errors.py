"""IncidentError: a refused incident operation, answered as HTTP status + JSON reason."""

from __future__ import annotations


class IncidentError(Exception):
    """A refused incident operation: HTTP status, error code and reason."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason
