"""Typed application state."""

from __future__ import annotations

from aiohttp import web

from relay.app import Relay

RELAY = web.AppKey("relay", Relay)
