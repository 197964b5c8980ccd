"""One fuzzing request to the relay over HTTP: a 5xx is a failure, unless it is one
already filed (then Known)."""

from __future__ import annotations

import re

import aiohttp

from scripts.fuzzing.target import Ctx, Failure, Known

LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})"
    rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]"
)


def json_depth(body: bytes) -> int:
    depth = best = 0
    for byte in body:
        if byte in b"[{":
            depth += 1
            best = max(best, depth)
        elif byte in b"]}":
            depth -= 1
    return best


def known_5xx(body: bytes, content_type: str, path: str) -> str | None:
    """Names a 5xx already filed (issue 10, item 8; helper `limits` fixes these)."""
    if "charset=" in content_type.lower() and "charset=utf-8" not in content_type.lower():
        return "unknown charset in Content-Type (issue 10 item 8)"
    if LONE_SURROGATE.search(body):
        return "lone surrogate in JSON (issue 10 item 8)"
    if json_depth(body) > 500:
        return "deeply nested JSON (issue 10 item 8)"
    if path.startswith("/s/") and re.search(r"%[89a-fA-F][0-9a-fA-F]", path):
        return "non-ASCII share token (issue 10 item 8)"
    return None


async def request(
    ctx: Ctx,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """(status, Location, body); a 5xx raises Failure, or Known for a filed one."""
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    try:
        async with ctx.http.request(
            method,
            ctx.relay.base_url + path,
            data=body,
            headers=sent,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            # An event stream (telemetry, annotations) answers and then never ends: its
            # answer is its status and headers.
            if resp.content_type == "text/event-stream":
                answer = b""
            else:
                answer = await resp.read()
            status, location = resp.status, resp.headers.get("Location", "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Failure(f"{method} {path}: no answer ({type(exc).__name__}: {exc})") from None
    if status >= 500:
        what = f"{method} {path} answered {status}: {answer[:300]!r}"
        known = known_5xx(body or b"", content_type or "", path)
        if known:
            raise Known(f"{known}: {what}")
        raise Failure(what)
    return status, location, answer
