"""The aiohttp application factory: routes, limits, and the Relay as a paired resource."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from relay.api import (
    routes_annotation_feed,
    routes_annotations,
    routes_audit,
    routes_auth,
    routes_incident_files,
    routes_incidents,
    routes_kiosk,
    routes_map,
    routes_mse,
    routes_privacy_masks,
    routes_share,
    routes_streams,
    routes_telemetry,
    routes_thermal,
    routes_viewer,
    routes_wall,
    routes_web,
    routes_whep,
    routes_whip,
)
from relay.api.errors import error_middleware
from relay.api.keys import AUTH, RELAY
from relay.api.middleware import auth_middleware
from relay.api.share_expiry import watch_share_viewers
from relay.app import Relay
from relay.auth.service import Auth
from relay.config import Config
from relay.telemetry.footprint import ground_point

MAX_BODY = 64 * 1024  # an SDP offer is a few KiB; nothing we accept is larger


def create_app(config: Config) -> web.Application:
    """A ready-to-run app; the Relay starts and stops with it (cleanup_ctx)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[error_middleware, auth_middleware])
    relay = Relay(config)
    app[RELAY] = relay
    app[AUTH] = Auth(config, relay.audit)

    async def relay_lifetime(app: web.Application) -> AsyncIterator[None]:
        await relay.start()
        share_watch = asyncio.get_running_loop().create_task(watch_share_viewers(app))
        yield
        share_watch.cancel()
        app[AUTH].failures.flush()  # the last minute's counts, before the audit log closes
        await relay.aclose()

    app.cleanup_ctx.append(relay_lifetime)
    app.on_shutdown.append(routes_telemetry.end_subscriptions)
    app.add_routes(routes_streams.routes)
    app.add_routes(routes_whep.routes)
    app.add_routes(routes_whip.routes)
    app.add_routes(routes_web.routes)
    routes_mse.install(app)  # the WebSocket/MSE fallback (docs/fallback.md)
    for module in (
        routes_auth,
        routes_share,
        routes_audit,
        routes_incidents,
        routes_incident_files,
        routes_viewer,
        routes_thermal,
        routes_telemetry,
        routes_map,
        routes_kiosk,
        routes_wall,
        routes_annotation_feed,
    ):
        app.add_routes(module.routes)
    routes_annotations.install(app)
    routes_privacy_masks.install(app)  # operator-drawn masks (docs/privacy.md)
    app.router.add_static("/static", routes_web.web_dir(), show_index=False, follow_symlinks=False)
    # A mark made with telemetry stores where on the ground it points (docs/annotations.md).
    app[routes_annotations.BOARD].ground_position = ground_point
    return app
