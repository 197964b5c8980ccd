"""What the incident routes (routes_incidents, routes_incident_files) share: the manager,
who asks, and IncidentError as the JSON error answer."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relay.api.access import identity_of
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.recording.manager import IncidentError, IncidentManager


def who(request: web.Request) -> tuple[str, str]:
    """(identity name, client address) for the audit log."""
    identity = identity_of(request)
    return (identity.name if identity else "anonymous"), request.remote or ""


def manager(request: web.Request) -> IncidentManager:
    return request.app[RELAY].incidents


def json_errors(handler: Any) -> Any:
    """Turns IncidentError into the JSON error answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except IncidentError as exc:
            return json_error(exc.status, exc.code, exc.reason)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped
