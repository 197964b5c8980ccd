"""msgspec's validation errors in plain words, for config files and request bodies alike.

msgspec says ``Expected `int` <= 65535 - at `$.server.port```; an operator at an incident
should read ``server.port: must be at most 65535``. One translation for every schema (the
config's tables in relay.config, the JSON bodies in relay.api.body), so both read the same.
"""

from __future__ import annotations

import re

import msgspec

from relay.config.base import Invalid

_AT = re.compile(r"^(?P<why>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]*)`$")
_BOUND = re.compile(r"^Expected `(?P<type>[^`]*)`(?P<len> of length)? (?P<op>[<>]=?) (?P<n>\S+)$")
_TYPE = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`$")
_REGEX = re.compile(r"^Expected `str` matching regex ")
_OPS = {"<=": "at most", ">=": "at least", "<": "less than", ">": "more than"}
# JSON/TOML words for msgspec's type names.
_NAMES = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "array": "a list",
    "object": "a table (object)",
    "null": "null",
}


def _number(text: str) -> str:
    """3600.0 -> 3600; other numbers as msgspec wrote them."""
    return text[:-2] if text.endswith(".0") else text


def _type(name: str) -> str:
    return " or ".join(_NAMES.get(part, part) for part in name.split(" | "))


def _bound(match: re.Match[str]) -> str:
    limit = _number(match["n"])
    words = _OPS[match["op"]]
    if not match["len"]:
        return f"must be {words} {limit}"
    unit = "characters" if match["type"] == "str" else "items"
    return f"must have {words} {limit} {unit}"


def plain(why: str) -> str:
    """One msgspec reason (no path) in plain words; a reason it does not know stays as is."""
    if bound := _BOUND.match(why):
        return _bound(bound)
    if typed := _TYPE.match(why):
        return f"must be {_type(typed['want'])}, got {_type(typed['got'])}"
    if _REGEX.match(why):
        return "has characters that are not allowed here"
    if why.startswith("Invalid enum value"):
        return "is not one of the allowed values"
    return why


def join(path: str, key: str) -> str:
    """A msgspec path (``.streams[0]``) and a key in it (``name``, ``[1]``): ``streams[0].name``."""
    path = path.lstrip(".")
    if not key:
        return path
    if not path:
        return key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def explain(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(key, reason) of a validation error: ``("server.port", "must be at most 65535")``.

    The key is empty for the document itself; a check of ours (an Invalid raised in a
    ``__post_init__``) keeps its own key and words.
    """
    match = _AT.match(str(exc))
    why, path = (match["why"], match["path"] or "") if match else (str(exc), "")
    cause = exc.__cause__
    if isinstance(cause, Invalid):
        return join(path, cause.key), cause.why
    if unknown := _UNKNOWN.match(why):
        return join(path, unknown["key"]), "unknown key"
    if missing := _MISSING.match(why):
        return join(path, missing["key"]), "missing"
    return join(path, ""), plain(why)
