"""The registry of source schemes: one declaration per scheme, made by its own module.

Every module of relay.sources may declare `SCHEMES` (a tuple of Scheme, relay.sources.scheme);
the registry collects them at first use, so adding a scheme touches one module. The Stream,
the config and the API ask the registry, never a list of their own.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from urllib.parse import urlsplit

import relay.sources
from relay.errors import SourceError
from relay.sources.base import Source
from relay.sources.redact import redact_url
from relay.sources.scheme import Scheme


@cache
def schemes() -> dict[str, Scheme]:
    """Every declared scheme by name, in the order of the modules' names."""
    found: dict[str, Scheme] = {}
    for info in sorted(pkgutil.iter_modules(relay.sources.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"relay.sources.{info.name}")
        for scheme in getattr(module, "SCHEMES", ()):
            if scheme.name in found:
                raise RuntimeError(f"source scheme {scheme.name!r} is declared twice")
            found[scheme.name] = scheme
    return found


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0]


def scheme_for(url: str) -> Scheme:
    """The scheme of a (checked) source URL; raises SourceError for an unknown one."""
    scheme = schemes().get(scheme_of(url))
    if scheme is None:
        raise SourceError(f"{url}: no source handles this scheme")
    return scheme


def check_url(url: str) -> str | None:
    """Why a source URL is unusable, or None when it is fine (the config asks this)."""
    try:
        why = _why_unusable(url)
    except ValueError as exc:  # urlsplit's own refusals, e.g. an unclosed "[" of IPv6
        why = str(exc)
    if not why:
        return None
    try:
        shown = redact(url)  # an error message is printed and logged: no key, no password
    except ValueError:
        shown = f"{scheme_of(url)}:…"
    return f"{shown!r}: {why}"


def _why_unusable(url: str) -> str | None:
    known = schemes()
    scheme = known.get(scheme_of(url)) if ":" in url else None
    if scheme is None:
        return f"scheme must be one of {', '.join(s + ':' for s in known)}"
    if scheme.needs_host_port:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return "bad port"
        if not parts.hostname or port is None:
            return f"needs host and port, e.g. {scheme.example}"
    return scheme.check(url)


def redact(url: str) -> str:
    """The URL as logs, messages and the API may show it (no keys, no passwords)."""
    scheme = schemes().get(scheme_of(url))
    return (scheme.redact if scheme is not None else redact_url)(url)


def open_source(url: str) -> Source:
    """A fresh Source for a pull URL (no stream around it: tools and tests)."""
    return scheme_for(url).host("", url, None).source(url)
