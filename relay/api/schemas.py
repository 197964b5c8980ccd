"""The JSON bodies of the login, incident and share-link routes, as msgspec schemas.

Types, lengths and ranges are declared on the fields; what a type cannot say (a title of
blanks, a stream named twice, a clip that ends before it starts) is checked in
``__post_init__`` and raised as Invalid naming the field. relay.api.body.check_body turns
either into a 400 whose code names the field (``bad_title``) and whose reason reads
``title: must have at most 200 characters``. Fields a route does not know are ignored (a
client may send more).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from relay.auth.shares import (
    DEFAULT_KIOSK_EXPIRY_S,
    MAX_EXPIRY_S,
    MAX_KIOSK_EXPIRY_S,
    MIN_EXPIRY_S,
)
from relay.config.base import Invalid

MAX_TITLE = 200
MAX_NOTE = 2000
MAX_STREAMS = 16
MAX_CLIP_S = 3600.0
MAX_OFFSET_S = 30 * 24 * 3600.0  # no recording runs longer; also refuses Infinity
MAX_SECRET = 1024  # a password or a token: no real one is longer
MAX_NAME = 64  # longer than any stream name (32): refused before it is looked up

StreamName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
Offset = Annotated[float, msgspec.Meta(ge=0, le=MAX_OFFSET_S)]


def _plain_text(field: str, value: str) -> None:
    """Titles and notes may hold newlines and tabs (the log escapes them), no other control
    characters: they end up in files, the audit log and the page."""
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise Invalid(field, "no control characters (newlines and tabs are fine)")


class Body(msgspec.Struct):
    """A JSON body; `codes` names the error code of a field that is not ``bad_<field>``."""

    codes: ClassVar[dict[str, str]] = {}


class IncidentBody(Body):
    """POST /api/incidents."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)]
    streams: Annotated[list[StreamName], msgspec.Meta(min_length=1, max_length=MAX_STREAMS)]
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)] = ""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise Invalid("title", "must not be blank")
        _plain_text("title", self.title)
        _plain_text("note", self.note)
        if len(set(self.streams)) != len(self.streams):
            raise Invalid("streams", "names a stream twice")
        self.title, self.note = self.title.strip(), self.note.strip()


class ClipBody(Body):
    """POST /api/incidents/{id}/clips: seconds from the start of the stream's recording."""

    codes: ClassVar[dict[str, str]] = {"from_s": "bad_range", "to_s": "bad_range"}
    stream: StreamName
    from_s: Offset
    to_s: Offset

    def __post_init__(self) -> None:
        if not self.from_s < self.to_s:
            raise Invalid("to_s", "must be after from_s")
        if self.to_s - self.from_s > MAX_CLIP_S:
            raise Invalid("to_s", f"a clip is at most {MAX_CLIP_S:g} s long")


class SnapshotBody(Body):
    """POST /api/incidents/{id}/snapshots."""

    stream: StreamName


class HoldBody(Body):
    """POST /api/incidents/{id}/hold: true keeps it past retention, false lets it expire."""

    hold: bool = True


class ShareBody(Body):
    """POST /api/share: {"stream", "expires_in_s"}, or a kiosk: {"kind": "kiosk", "streams":
    [...], "title"?, "cycle_s"?, "expires_in_s"? (30 days)}."""

    codes: ClassVar[dict[str, str]] = {"expires_in_s": "bad_expiry"}
    stream: StreamName | None = None
    expires_in_s: Annotated[int, msgspec.Meta(ge=MIN_EXPIRY_S, le=MAX_KIOSK_EXPIRY_S)] = (
        DEFAULT_KIOSK_EXPIRY_S
    )
    kind: Literal["watch", "kiosk"] = "watch"
    streams: Annotated[list[StreamName], msgspec.Meta(max_length=MAX_STREAMS)] = []
    title: Annotated[str, msgspec.Meta(max_length=MAX_TITLE)] = ""
    cycle_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 20

    def __post_init__(self) -> None:
        if self.kind == "watch" and self.expires_in_s > MAX_EXPIRY_S:
            raise Invalid("expires_in_s", f"a share link lasts at most {MAX_EXPIRY_S} s")
        if self.stream is not None and self.stream not in self.streams:
            self.streams.insert(0, self.stream)
        if not self.streams:
            raise Invalid("stream", "name the stream to share")
        if self.kind == "watch" and len(self.streams) > 1:
            raise Invalid("streams", "a share link shares one stream; a kiosk link several")
        if len(set(self.streams)) != len(self.streams):
            raise Invalid("streams", "names a stream twice")
        _plain_text("title", self.title)
        self.title = self.title.strip()
        self.stream = self.streams[0]


class LoginBody(msgspec.Struct):
    """POST /api/login. Other fields are ignored (a client may send more)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SECRET)]
