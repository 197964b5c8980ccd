"""The browser UI: pages and their static files, shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from relay.api.keys import RELAY

routes = web.RouteTableDef()


def web_dir() -> Path:
    return Path(str(resources.files("relay.web")))


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(web_dir() / "index.html", headers={"Cache-Control": "no-cache"})


@routes.get("/play/{stream}")
async def player(request: web.Request) -> web.StreamResponse:
    if request.match_info["stream"] not in request.app[RELAY].streams:
        raise web.HTTPNotFound(text=f"no stream named {request.match_info['stream']!r}")
    return web.FileResponse(web_dir() / "player.html", headers={"Cache-Control": "no-cache"})
