"""The control room's wall: every stream the identity may watch, tiled (web/wall.js)."""

from __future__ import annotations

from aiohttp import web

from relay.api.access import NO_STREAM, access
from relay.api.routes_web import web_dir

routes = web.RouteTableDef()


@routes.get("/wall")
@access("viewer", streams=NO_STREAM)  # the page asks /api/streams, which is scoped
async def wall_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(web_dir() / "wall.html", headers={"Cache-Control": "no-cache"})
