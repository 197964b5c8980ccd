"""The browser UI: pages and their static files, shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from relay.api.access import NO_STREAM, access
from relay.api.keys import RELAY

routes = web.RouteTableDef()


def web_dir() -> Path:
    return Path(str(resources.files("relay.web")))


# Pages need a login like the API. Without one, a browser gets the login form with status
# 401 in place of the page (see relay.api.middleware.unauthenticated): the address stays, so
# after logging in the page the person opened loads; a script sees an honest 401.
@routes.get("/")
@access("viewer", streams=NO_STREAM)  # the page asks /api/streams, which is scoped
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(web_dir() / "index.html", headers={"Cache-Control": "no-cache"})


@routes.get("/play/{stream}")
@access("viewer", stream_key="stream")
async def player(request: web.Request) -> web.StreamResponse:
    if request.match_info["stream"] not in request.app[RELAY].streams:
        raise web.HTTPNotFound(text=f"no stream named {request.match_info['stream']!r}")
    return web.FileResponse(web_dir() / "player.html", headers={"Cache-Control": "no-cache"})
