"""Thermal: an operator selects a thermal stream's palette and isotherm while it runs.

The change applies from the next frame (every rung without a palette of its own in the
config follows it) and is audited as ``thermal_selected`` with what it was before.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from relay.api.access import access, identity_of
from relay.api.body import check_body, read_json
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.api.schemas import Body
from relay.config.base import Invalid
from relay.config.model import Luma, check_palette

routes = web.RouteTableDef()


class ThermalBody(Body):
    """POST /api/streams/{name}/thermal: a field left out keeps its value; isotherm null
    turns it off."""

    palette: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType = msgspec.UNSET
    isotherm: Luma | None | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        why = check_palette(self.palette) if isinstance(self.palette, str) else None
        if why:
            raise Invalid("palette", why)


@routes.post("/api/streams/{name}/thermal")
@access("operator", stream_key="name")
async def select_thermal(request: web.Request) -> web.Response:
    """{"palette": "ironbow", "isotherm": 200 | null} → 200 with the stream's thermal state."""
    relay = request.app[RELAY]
    name = request.match_info["name"]
    stream = relay.streams.get(name)
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {name!r}")
    control = stream.thermal
    if control is None:
        return json_error(409, "not_thermal", f"{name!r} is not a thermal stream (config)")
    body = check_body(await read_json(request), ThermalBody)
    current = control.settings
    palette = body.palette if isinstance(body.palette, str) else current.palette
    isotherm = current.isotherm if body.isotherm is msgspec.UNSET else body.isotherm
    before = control.select(palette, isotherm)
    identity = identity_of(request)
    relay.audit.append(
        "thermal_selected",
        identity.name if identity else "anonymous",
        request.remote or "?",
        stream=name,
        palette=palette,
        isotherm=isotherm,
        before={"palette": before.palette, "isotherm": before.isotherm},
    )
    return web.json_response(control.status())
