"""The app's runner: aiohttp's own error answers carry the security headers too.

A request aiohttp cannot parse (a malformed request line, an oversized header) never
reaches the app: its 400 is made by the connection's RequestHandler.handle_error, which no
middleware and no on_response_prepare signal sees (aio-libs/aiohttp#3287 asks for a hook).
RelayRunner is an AppRunner whose connections' handler adds the headers to that answer.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from relay.api.errors import SECURITY_HEADERS


class _Handler(RequestHandler):
    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


class RelayRunner(web.AppRunner):
    """web.AppRunner for the relay's app (the CLI and the tests both serve through it)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app builds its Server (with its request factory and settings); only the
        # class that makes each connection's handler changes.
        server.__class__ = _Server
        return server
