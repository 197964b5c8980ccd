"""The app's runner: aiohttp's own error answers carry the security headers too.

A request aiohttp cannot parse (a malformed request line, an oversized header) never
reaches the app: its 400 is made by the connection's RequestHandler.handle_error, which no
middleware and no on_response_prepare signal sees (aio-libs/aiohttp#3287 asks for a hook).
RelayRunner is an AppRunner whose connections' handler adds the headers to that answer.

aiohttp also logs every such request at ERROR with a full traceback: a client sending
garbage could fill the log with them (and bury real errors). A malformed request is the
client's fault, so it is counted and reported as one warning a minute instead.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from relay.api.errors import SECURITY_HEADERS

log = logging.getLogger(__name__)

REPORT_EVERY_S = 60.0


class MalformedRequests:
    """Counts requests aiohttp could not parse; one warning a minute says how many."""

    def __init__(self) -> None:
        self.total = 0
        self._since_report = 0
        self._reported_at = -REPORT_EVERY_S

    def note(self, exc: BaseException) -> None:
        self.total += 1
        self._since_report += 1
        now = time.monotonic()
        if now - self._reported_at >= REPORT_EVERY_S:
            log.warning(
                "[http] %d malformed request(s) refused with 400 in the last minute (last: %s)",
                self._since_report,
                type(exc).__name__,
            )
            self._reported_at, self._since_report = now, 0


MALFORMED = MalformedRequests()


class _Handler(RequestHandler):
    __slots__ = ()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError):  # the client's bytes, not the relay's fault
            MALFORMED.note(exc)
            return
        super().log_exception(*args, **kw)

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
