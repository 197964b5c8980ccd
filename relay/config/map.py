"""The map page's background (`[map]`): map tiles from a local folder the relay serves, or
from a tile server on the LAN; with neither, the page draws a grid with coordinates.

Nothing is fetched from the internet by the relay; a `tiles_url` is loaded by the browsers
themselves, so it must be a host they reach (a tile server in the command vehicle)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from relay.config.base import Invalid, Table

Zoom = Annotated[int, msgspec.Meta(ge=0, le=22)]
PLACEHOLDERS = ("{z}", "{x}", "{y}")
TILE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


def _check_template(key: str, template: str) -> None:
    missing = [p for p in PLACEHOLDERS if template.count(p) != 1]
    if missing:
        raise Invalid(key, f"{template!r} needs each of {{z}}, {{x}}, {{y}} once ({missing[0]})")


class MapConfig(Table, frozen=True):
    """tiles = "/srv/tiles/{z}/{x}/{y}.png": the relay serves this folder's tiles at
    /map/tiles/{z}/{x}/{y}; tiles_url = "http://tiles.lan/{z}/{x}/{y}.png": the browsers load
    them from there. Web Mercator (XYZ, "slippy map") tiles of 256 px."""

    tiles: str = ""
    tiles_url: str = ""
    min_zoom: Zoom = 0
    max_zoom: Zoom = 19
    attribution: str = ""  # shown in the corner (OpenStreetMap's licence asks for it)

    def __post_init__(self) -> None:
        if self.tiles and self.tiles_url:
            raise Invalid("tiles_url", "set either tiles (a local folder) or tiles_url, not both")
        if self.tiles:
            _check_template("tiles", self.tiles)
            if self.suffix not in TILE_TYPES:
                raise Invalid("tiles", f"tiles end in one of {', '.join(TILE_TYPES)}")
            if ".." in PurePosixPath(self.tiles).parts:
                raise Invalid("tiles", "no '..' in the tile folder")
            if not self.tiles.startswith("/") and ":" in self.tiles.split("{", 1)[0]:
                raise Invalid("tiles", "a folder path; a tile server goes in tiles_url")
        if self.tiles_url:
            _check_template("tiles_url", self.tiles_url)
            parts = urlsplit(self.tiles_url.replace("{", "").replace("}", ""))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise Invalid("tiles_url", f"{self.tiles_url!r} is not an http(s):// URL")
        if self.min_zoom > self.max_zoom:
            raise Invalid("min_zoom", f"must not be above max_zoom ({self.max_zoom})")
        if len(self.attribution) > 200 or any(ord(c) < 32 for c in self.attribution):
            raise Invalid("attribution", "one line of at most 200 characters")

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.tiles).suffix.lower()

    @property
    def tile_origin(self) -> str:
        """The scheme://host:port a tiles_url loads from (for the page's CSP), or ""."""
        if not self.tiles_url:
            return ""
        parts = urlsplit(self.tiles_url.replace("{", "").replace("}", ""))
        return f"{parts.scheme}://{parts.netloc}"
