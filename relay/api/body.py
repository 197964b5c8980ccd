"""The one reader of request bodies: every route that takes a body reads it here.

Each check answers a 4xx with a JSON reason instead of letting the parser fail with a 500:
a Content-Type other than the route's (415), a charset Python does not know as a text
encoding (415; aiohttp's own ``request.text()`` raised LookupError, a 500), a body over the
app's ``client_max_size`` (413), bytes that are not text in that charset (400; UTF-8 when
none is given), JSON nested deeper than any of our
bodies (400; ``[`` x 20000 would exhaust the parser's recursion), and text with lone
surrogates (400: ``"\\ud800"`` is valid JSON but no Unicode text, and fails later wherever
the text is written to a file or the audit log).
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from relay.config.messages import explain

JSON = "application/json"
MAX_DEPTH = 32  # our bodies nest two levels; a little room for clients that wrap them
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")

Schema = TypeVar("Schema", bound=msgspec.Struct)


class BodyError(Exception):
    """A body a route cannot take: the HTTP status, error code and reason to answer."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


async def read_text(request: web.Request, content_type: str) -> str:
    """The body as text after the checks above (not the JSON ones)."""
    if request.content_type != content_type:
        raise BodyError(
            415,
            "unsupported_media_type",
            f"Content-Type must be {content_type}, got {request.content_type[:64]!r}",
        )
    charset = request.charset or "utf-8"
    raw = await request.read()  # aiohttp raises 413 past client_max_size
    try:
        return raw.decode(charset)
    except LookupError:  # unknown, or not a text encoding (base64, rot13 …)
        raise BodyError(
            415, "unsupported_charset", f"unknown charset {charset[:32]!r}; send UTF-8"
        ) from None
    except ValueError:  # UnicodeDecodeError, and codecs that refuse their input
        raise BodyError(400, "bad_encoding", f"the body is not {charset[:32]} text") from None


async def read_json(request: web.Request) -> dict[str, Any]:
    """A JSON object body (every JSON route takes an object)."""
    text = await read_text(request, JSON)
    if nesting(text.encode("utf-8")) > MAX_DEPTH:
        raise BodyError(400, "bad_json", f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise BodyError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError(400, "bad_json", "the body must be a JSON object")
    if _has_surrogate(body):
        raise BodyError(400, "bad_text", "the body's text has lone surrogates (not Unicode)")
    return body


def check_body(body: dict[str, Any], schema: type[Schema], code: str | None = None) -> Schema:
    """`body` as `schema`: a msgspec Struct (relay.api.schemas), the schema library of the
    config too, so a body's types, lengths and ranges are declared once on its fields. A
    mismatch answers 400 naming the field in plain words (relay.config.messages, as for the
    config): ``name: must have at most 64 characters``. The error code is `code`, else the
    schema's code for the field (``codes``), else ``bad_<field>``."""
    try:
        return msgspec.convert(body, schema)
    except msgspec.ValidationError as exc:
        path, why = explain(exc)
        field = re.split(r"[.\[]", path, maxsplit=1)[0]
        if code is None:
            codes: dict[str, str] = getattr(schema, "codes", {})
            code = codes.get(field, f"bad_{field}" if field else "bad_body")
        raise BodyError(400, code, f"{path}: {why}" if path else why) from None


def nesting(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw`, brackets inside strings not counted
    (a linear scan in C: no parser recursion on hostile input)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', raw)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False
