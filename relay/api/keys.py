"""Typed application state."""

from __future__ import annotations

from aiohttp import web

from relay.app import Relay
from relay.auth.service import Auth

RELAY = web.AppKey("relay", Relay)
AUTH = web.AppKey("auth", Auth)
