"""The HTTP side: aiohttp app factory and one routes module per domain."""
